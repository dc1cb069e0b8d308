"""Training mixtures: a YAML recipe says how much of each (asset, source) goes into the output.

A recipe (config/recipes/{name}.yaml) lists inputs with either a `weight` (share of the recipe's
`total_tokens`), a `tokens` budget, or a sampling `rate` (0.5 keeps about half, 2.0 repeats every
row twice). Rates above 1 upsample by repetition, capped at `max_repeat`. An input may take only the
rows whose columns equal given values (`where: {difficulty: hard}`), so one asset can be listed once
per tag and a tag up-weighted (e.g. hard math items at rate 2, the others at rate 1).

Reproducibility is the point: the same recipe over the same input partitions gives byte-identical
shards and manifest. So nothing depends on input order, RNG state or the clock: whether a row is
taken (and how many copies) is decided by a seeded hash of its id, the output order is a seeded
hash of (id, copy), the Parquet writer settings are fixed, and the manifest has no timestamps.

Streaming: pass 1 counts tokens per input (text columns only, batch by batch); pass 2 samples each
batch and spills it into hash-assigned shard files; pass 3 sorts one shard at a time. Memory is one
batch plus one output shard. Token counts are the seed's estimate (`chunking.estimate_tokens_expr`).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus_dag.chunking import estimate_tokens_expr

RECIPES_DIR = Path(__file__).resolve().parent.parent / "config" / "recipes"
MIXTURE_SCHEMA = {
    "id": pl.String,
    "asset": pl.String,
    "source": pl.String,
    "partition": pl.String,
    "copy": pl.Int32,
    "tokens": pl.Int64,
    "text": pl.String,
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RecipeError(ValueError):
    """A recipe that cannot be used (names the file and the problem)."""


@dataclass(frozen=True)
class RecipeInput:
    """One (asset, source) stream; `text` columns are joined with a blank line into the mixture text."""

    asset: str
    source: str | None = None
    weight: float | None = None
    tokens: int | None = None
    rate: float | None = None
    text: tuple[str, ...] = ("text",)
    id: str | None = None
    where: tuple[tuple[str, str], ...] = ()  # (column, value) pairs a row must match (values compared as text)

    @property
    def key(self) -> str:
        tag = "[" + ",".join(f"{c}={v}" for c, v in self.where) + "]" if self.where else ""
        return f"{self.asset}/{self.source or '*'}{tag}"

    def select(self, df: pl.DataFrame) -> pl.DataFrame:
        """The rows matching `where` (all of them without one)."""
        return df.filter(*(pl.col(c).cast(pl.String) == v for c, v in self.where)) if self.where else df


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int
    inputs: tuple[RecipeInput, ...]
    total_tokens: int | None = None
    max_repeat: float = 4.0
    shard_tokens: int = 1_000_000
    jsonl: bool = False
    batch_rows: int = 20_000
    description: str = ""

    @property
    def hash(self) -> str:
        """sha256 of the parsed recipe (comments and key order do not change it)."""
        return "sha256:" + hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _InputEntry(_Strict):
    asset: str
    source: str | None = None
    weight: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    tokens: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    text: str | list[str] = "text"
    id: str | None = None
    where: dict[str, str | int | float | bool] = {}


class _RecipeFile(_Strict):
    name: str
    seed: int
    inputs: list[_InputEntry] = Field(min_length=1)
    total_tokens: int | None = Field(default=None, gt=0)
    max_repeat: float = Field(default=4.0, ge=1)
    shard_tokens: int = Field(default=1_000_000, ge=1)
    jsonl: bool = False
    batch_rows: int = Field(default=20_000, ge=1)
    description: str = ""


def load_recipe(path: str | Path, known_assets: Sequence[str] | None = None) -> Recipe:
    """Parse and validate a recipe file; every problem is a RecipeError naming the file."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with 'name', 'seed' and 'inputs'")
    recipe = parse_recipe(doc, str(path), known_assets)
    if recipe.name != path.stem:  # the recipe partition is the file name; the manifest says `name`
        raise RecipeError(f"{path}: recipe {recipe.name!r}: name: must be the file name {path.stem!r}")
    return recipe


def _explain(where: str, error: ValidationError, doc: dict) -> RecipeError:
    """One line per problem: the file, the recipe, the input (number and asset) and the key."""
    name = doc.get("name")
    lines = []
    for e in error.errors():
        loc = list(e["loc"])
        at = f"{where}: recipe {name!r}: " if isinstance(name, str) else f"{where}: "
        if len(loc) >= 2 and loc[0] == "inputs" and isinstance(loc[1], int):
            entry = doc["inputs"][loc[1]]
            asset = entry.get("asset") if isinstance(entry, dict) else None
            at, loc = at + f"input #{loc[1] + 1}" + (f" ({asset})" if isinstance(asset, str) else "") + ": ", loc[2:]
        loc = [x for x in loc if x not in ("str", "list[str]")]  # pydantic names the union arm; the key is enough
        key = ".".join(str(x) for x in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"{at}{key}: unknown key")
        elif e["type"] == "missing":
            lines.append(f"{at}{key}: missing")
        else:
            lines.append(f"{at}{key}: {e['msg']} (got {e.get('input')!r})")
    return RecipeError("\n".join(dict.fromkeys(lines)))


def parse_recipe(doc: dict, where: str = "recipe", known_assets: Sequence[str] | None = None) -> Recipe:
    """A recipe mapping, checked against a strict schema (unknown keys and wrong types are errors),
    then the rules between keys: one amount per input, weights summing to 1, each input once."""
    try:
        spec = _RecipeFile.model_validate(doc)
    except ValidationError as e:
        raise _explain(where, e, doc) from None

    def bad(msg: str) -> RecipeError:
        return RecipeError(f"{where}: recipe {spec.name!r}: {msg}")

    inputs = []
    for i, e in enumerate(spec.inputs, 1):
        if known_assets is not None and e.asset not in known_assets:
            raise bad(f"input #{i}: unknown asset {e.asset!r}; known: {', '.join(sorted(known_assets))}")
        given = [k for k in ("weight", "tokens", "rate") if getattr(e, k) is not None]
        if len(given) != 1:
            raise bad(f"input #{i} ({e.asset}): give exactly one of weight, tokens, rate (got {given or 'none'})")
        text = (e.text,) if isinstance(e.text, str) else tuple(e.text)
        if not text:
            raise bad(f"input #{i} ({e.asset}): text: name at least one column")
        where_ = tuple(sorted((c, str(v).lower() if isinstance(v, bool) else str(v)) for c, v in e.where.items()))
        inputs.append(RecipeInput(e.asset, e.source, e.weight, e.tokens, e.rate, text, e.id, where_))
    keys = [r.key for r in inputs]
    if len(set(keys)) != len(keys):
        raise bad(f"an (asset, source, where) input is listed twice: {keys}")
    weighted = [r for r in inputs if r.weight is not None]
    if weighted:
        if len(weighted) != len(inputs):
            raise bad("mixing 'weight' with 'tokens'/'rate' inputs: use weights for all inputs or for none")
        if abs(sum(r.weight for r in inputs) - 1.0) > 1e-6:
            raise bad(f"weights must sum to 1, they sum to {sum(r.weight for r in inputs):.6g}")
        if spec.total_tokens is None:
            raise bad("total_tokens: weights need a positive integer 'total_tokens'")
    return Recipe(
        name=spec.name,
        seed=spec.seed,
        inputs=tuple(inputs),
        total_tokens=spec.total_tokens,
        max_repeat=float(spec.max_repeat),
        shard_tokens=spec.shard_tokens,
        jsonl=spec.jsonl,
        batch_rows=spec.batch_rows,
        description=spec.description,
    )


def recipe_names(folder: str | Path = RECIPES_DIR) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


@dataclass(frozen=True)
class InputPart:
    """One upstream partition: a frame in memory, or its Parquet file(s) in row order."""

    asset: str
    partition: str
    data_version: str | None
    data: pl.DataFrame | str | Path | tuple[str | Path, ...] = field(repr=False)

    @property
    def source(self) -> str | None:
        """The non-date part of a key like `2026-11-21|web` (or the key itself)."""
        rest = [p for p in self.partition.split("|") if not _DATE.fullmatch(p)]
        return rest[0] if rest else None

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[pl.DataFrame]:
        if isinstance(self.data, pl.DataFrame):
            missing = [c for c in columns if c not in self.data.columns]
            if missing:
                raise RecipeError(f"{self.asset} [{self.partition}]: no column(s) {missing}; has {self.data.columns}")
            yield from self.data.select(columns).iter_slices(batch_rows)
            return
        for path in self._files():
            pf = pq.ParquetFile(path)
            missing = [c for c in columns if c not in pf.schema_arrow.names]
            if missing:
                raise RecipeError(f"{self.asset} [{self.partition}] ({path}): no column(s) {missing}; has {pf.schema_arrow.names}")
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                yield pl.from_arrow(batch)

    def columns(self) -> list[str]:
        return self.data.columns if isinstance(self.data, pl.DataFrame) else pq.ParquetFile(self._files()[0]).schema_arrow.names

    def _files(self) -> tuple[str | Path, ...]:
        return self.data if isinstance(self.data, tuple) else (self.data,)


def _unit_hash(seed: int, *parts: str) -> int:
    """A 64-bit hash of the seed and strings: stable across runs, machines and library versions."""
    h = hashlib.blake2b(digest_size=8, key=str(seed).encode())
    h.update("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big")


def _id_column(spec: RecipeInput, part: InputPart) -> str:
    if spec.id:
        return spec.id
    for c in ("doc_id", "id", "item_id"):
        if c in part.columns():
            return c
    raise RecipeError(f"{spec.key} [{part.partition}]: no id column (doc_id, id, item_id); set 'id' in the recipe")


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A text column as is; a chat `messages` list (structs with `content`) or a list of strings joined."""
    col = pl.col(name)
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if isinstance(inner, pl.Struct) and "content" in [f.name for f in inner.fields]:
            col = col.list.eval(pl.element().struct.field("content").cast(pl.String))
        col = col.cast(pl.List(pl.String)).list.join("\n\n")
    return col.cast(pl.String).fill_null("")


def _texts(df: pl.DataFrame, spec: RecipeInput) -> pl.DataFrame:
    text = pl.concat_str([_as_text(c, df.schema[c]) for c in spec.text], separator="\n\n")
    return df.with_columns(text.alias("__text")).with_columns(estimate_tokens_expr("__text").alias("__tokens"))


def _matching(recipe: Recipe, parts: Sequence[InputPart]) -> dict[RecipeInput, list[InputPart]]:
    out = {}
    for spec in recipe.inputs:
        got = sorted((p for p in parts if p.asset == spec.asset and spec.source in (None, p.source)), key=lambda p: p.partition)
        if not got:
            raise RecipeError(f"recipe {recipe.name}: input {spec.key} matched no input partition")
        out[spec] = got
    return out


def _rate(recipe: Recipe, spec: RecipeInput, tokens_in: int) -> tuple[float, bool]:
    """(sampling rate, whether it was capped at max_repeat)."""
    if spec.rate is not None:
        want = spec.rate
    else:
        budget = spec.tokens if spec.tokens is not None else spec.weight * recipe.total_tokens
        want = budget / tokens_in if tokens_in else 0.0
    return min(want, recipe.max_repeat), want > recipe.max_repeat


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Fixed writer settings, so equal frames give equal bytes."""
    table = df.to_arrow().cast(pl.DataFrame(schema=MIXTURE_SCHEMA).to_arrow().schema)
    pq.write_table(table, path, compression="zstd", compression_level=3, row_group_size=50_000, use_dictionary=True, write_statistics=True)


def build_mixture(recipe: Recipe, parts: Sequence[InputPart], out_dir: str | Path, work_dir: str | Path | None = None) -> dict:
    """Write `part-NNNNN.parquet` shards (and `.jsonl` if the recipe says so) plus `manifest.json`.

    Returns the manifest: per input its partitions and data versions, rows/tokens in and out, the
    rate used; per shard rows, tokens and sha256; the recipe and its hash.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*"):
        old.unlink()
    matched = _matching(recipe, parts)

    stats = {}
    for spec, ps in matched.items():  # pass 1: tokens per input
        rows = tokens = 0
        for p in ps:
            for b in p.batches(sorted({*spec.text, *(c for c, _ in spec.where)}), recipe.batch_rows):
                b = spec.select(b)
                rows, tokens = rows + b.height, tokens + int(_texts(b, spec)["__tokens"].sum())
        rate, capped = _rate(recipe, spec, tokens)
        stats[spec] = {"rows_in": rows, "tokens_in": tokens, "rate": rate, "capped_at_max_repeat": capped}
    expected = sum(s["tokens_in"] * s["rate"] for s in stats.values())
    n_shards = max(1, math.ceil(expected / recipe.shard_tokens))

    tmp = Path(tempfile.mkdtemp(prefix="mixture-", dir=work_dir))
    try:
        for n_spec, (spec, ps) in enumerate(matched.items()):  # pass 2: sample and spill
            rows_out = tokens_out = 0
            for n_part, p in enumerate(ps):
                id_col = _id_column(spec, p)
                columns = sorted({id_col, *spec.text, *(c for c, _ in spec.where)})
                for n_batch, b in enumerate(p.batches(columns, recipe.batch_rows)):
                    sampled = _sample(recipe, spec, p, _texts(spec.select(b), spec), id_col, stats[spec]["rate"], n_shards)
                    rows_out, tokens_out = rows_out + sampled.height, tokens_out + int(sampled["tokens"].sum())
                    for (shard,), df in sampled.partition_by("__shard", as_dict=True, include_key=False).items():
                        df.write_ipc(tmp / f"{shard:05d}-{n_spec:03d}-{n_part:05d}-{n_batch:06d}.arrow")
            stats[spec] |= {"rows_out": rows_out, "tokens_out": tokens_out}
        shards = []
        for shard in range(n_shards):  # pass 3: one shard at a time, in hash order
            files = sorted(tmp.glob(f"{shard:05d}-*.arrow"))
            df = pl.concat([pl.read_ipc(f) for f in files]) if files else pl.DataFrame(schema=MIXTURE_SCHEMA | {"__key": pl.UInt64})
            df = df.sort("__key", "asset", "source", "id", "copy").select(list(MIXTURE_SCHEMA))
            name = f"part-{shard:05d}"
            _write_parquet(df, out_dir / f"{name}.parquet")
            entry = {"file": f"{name}.parquet", "rows": df.height, "tokens": int(df["tokens"].sum()), "sha256": _sha256(out_dir / f"{name}.parquet")}
            if recipe.jsonl:
                with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
                    for row in df.iter_rows(named=True):
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
                entry["jsonl_sha256"] = _sha256(out_dir / f"{name}.jsonl")
            shards.append(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    manifest = {
        "recipe": recipe.name,
        "recipe_hash": recipe.hash,
        "recipe_spec": asdict(recipe),
        "inputs": [
            {"asset": spec.asset, "source": spec.source, "where": dict(spec.where), "partitions": [{"partition": p.partition, "data_version": p.data_version} for p in ps]}
            | stats[spec]
            for spec, ps in matched.items()
        ],
        "shards": shards,
        "rows": sum(s["rows"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return manifest


def _sample(recipe: Recipe, spec: RecipeInput, part: InputPart, df: pl.DataFrame, id_col: str, rate: float, n_shards: int) -> pl.DataFrame:
    """Rows taken from one batch, each repeated floor(rate) or ceil(rate) times by a seeded hash of its
    id; each copy gets an order key (a seeded hash of id and copy) that also picks its shard."""
    ids = df[id_col].cast(pl.String).to_list()
    whole, frac = int(rate), rate - int(rate)
    copies = [whole + (_unit_hash(recipe.seed, "take", spec.key, i) / 2**64 < frac) for i in ids]
    taken = df.with_columns(pl.Series("__copies", copies, dtype=pl.Int32), pl.col(id_col).cast(pl.String).alias("id"))
    taken = taken.filter(pl.col("__copies") > 0).with_columns(pl.int_ranges(0, "__copies", dtype=pl.Int32).alias("copy")).explode("copy")
    keys = [_unit_hash(recipe.seed, "order", spec.key, i, str(c)) for i, c in zip(taken["id"], taken["copy"])]
    return taken.select(
        "id",
        pl.lit(spec.asset).alias("asset"),
        pl.lit(part.source).cast(pl.String).alias("source"),
        pl.lit(part.partition).alias("partition"),
        "copy",
        pl.col("__tokens").alias("tokens"),
        pl.col("__text").alias("text"),
        pl.Series("__key", keys, dtype=pl.UInt64),
        pl.Series("__shard", [k % n_shards for k in keys], dtype=pl.Int64),
    )


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def token_table(manifest: dict) -> str:
    """Markdown: per input, tokens available, rate, tokens taken and share of the mixture."""
    total = manifest["tokens"] or 1
    lines = ["| asset | source | partitions | rows in | tokens in | rate | rows out | tokens out | share |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for i in manifest["inputs"]:
        rate = f"{i['rate']:.3f}" + (" (capped)" if i["capped_at_max_repeat"] else "")
        lines.append(
            f"| {i['asset']} | {i['source'] or '*'} | {len(i['partitions'])} | {i['rows_in']:,} | {i['tokens_in']:,} | {rate} | "
            f"{i['rows_out']:,} | {i['tokens_out']:,} | {i['tokens_out'] / total:.1%} |"
        )
    lines.append(f"| **total** | | | | | | {manifest['rows']:,} | {manifest['tokens']:,} | 100% |")
    return "\n".join(lines)
