"""Exam extraction: keep exam papers, split them into questions, classify validity and subject.

detect.detect_exams -> split.split_questions -> questions.extract_questions -> questions.select_math;
validity.train_models builds the classifiers from labels.load_fragments (+ a user's labels).
"""
