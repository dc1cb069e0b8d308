"""Exam extraction: exam papers kept, split into questions, validity and subject classified, math selected."""
import dagster as dg

from assets.exam.assets import (
    exam_documents,
    exam_questions,
    math_questions,
    question_classifier,
)
from assets.exam.checks import checks

defs = dg.Definitions(assets=[question_classifier, exam_documents, exam_questions, math_questions], asset_checks=checks)
