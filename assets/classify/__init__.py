"""Model-based quality: configured document classifiers (train, score, drop or tag) and long-document coherence."""
import dagster as dg

from assets.classify.assets import (
    classified_documents,
    quality_classifiers,
    quality_scores,
)
from assets.classify.checks import checks
from assets.classify.coherence import (
    coherence_documents,
    coherence_scores,
    coherence_thresholds,
)

defs = dg.Definitions(
    assets=[quality_classifiers, quality_scores, classified_documents, coherence_scores, coherence_thresholds, coherence_documents],
    asset_checks=checks,
)
