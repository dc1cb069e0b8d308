"""Quality stages: heuristic filters, reference-model perplexity and its per-length-bucket cut."""
