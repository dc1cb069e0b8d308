"""Document classifiers (toxicity, pornography, advertisement, incoherent text, ...) declared in
config/classifiers.yaml: fastText, transformers sequence classifiers, or the project's char n-gram
logistic regression; trained from labelled JSONL, scored per document, applied as drop or tag."""
