"""Safety stage: URL/domain blocklists, per-language word blocklists, PII redaction (InternLM2's
safety stage, rules part). Pure functions over polars frames; the Dagster layer is assets/safety/."""
