"""LLM plumbing shared by stages: a tiny offline model, engines (vLLM, OpenAI-compatible), a response cache."""
