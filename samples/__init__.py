"""Builders of the shipped sample library (deterministic: rebuilding gives identical files)."""
import json
from pathlib import Path


def write_part(folder: Path, docs: list[dict]) -> Path:
    """Write one raw partition file, `{folder}/part-0.jsonl`, one JSON record per line."""
    path = folder / "part-0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return path
