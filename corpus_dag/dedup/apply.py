"""Dropping duplicates from a document batch, and what a person needs to eyeball the clusters."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import polars as pl

from corpus_dag.accounting import Split, split_by_reason
from corpus_dag.engine import row_slices
from corpus_dag.storage import ROW_GROUP_ROWS, PartitionData

from .config import DedupCfg
from .minhash import signatures
from .shingles import shingles

REASONS = {"exact": "exact_duplicate", "near": "near_duplicate"}


def apply(batch: pl.DataFrame, clusters: pl.DataFrame) -> Split:
    """Keep representatives and singletons; drop the other cluster members with reason
    exact_duplicate / near_duplicate and the trail columns duplicate_of, cluster_id, est_jaccard,
    exact_jaccard (null unless the clusters were verified exactly)."""
    on = ["doc_id"] + (["source"] if "source" in batch.columns and "source" in clusters.columns else [])
    trail = clusters.filter(pl.col("duplicate_of").is_not_null()).select(*on, "duplicate_of", "cluster_id", "kind", "est_jaccard", "exact_jaccard")
    tagged = batch.join(trail, on=on, how="left", maintain_order="left")
    split = split_by_reason(tagged, pl.col("kind").replace_strict(REASONS, default=None))
    return Split(kept=split.kept.drop(trail.columns[len(on) :]), dropped=split.dropped.drop("kind"))


TRAIL_SEED = 20_241_205  # any fixed seed: both passes hash in one process


def broken_trails(data: PartitionData, batch_rows: int = 65_536) -> int:
    """Rows of a stored clusters partition whose duplicate_of does not name the one kept row (null
    duplicate_of) of their own cluster, plus kept rows beyond a cluster's first. Two streaming passes
    that hold 16 bytes per cluster (its id and its kept row's 64-bit doc_id hash), not the partition's
    strings: a source's clusters partition can hold hundreds of millions of rows."""
    ids, hashes = [np.empty(0, np.int64)], [np.empty(0, np.uint64)]
    for batch in data.iter_batches(["cluster_id", "doc_id", "duplicate_of"], batch_rows):
        kept = batch.filter(pl.col("duplicate_of").is_null())
        ids.append(kept["cluster_id"].cast(pl.Int64).to_numpy())
        hashes.append(kept["doc_id"].hash(TRAIL_SEED).to_numpy())
    ids, hashes = np.concatenate(ids), np.concatenate(hashes)
    order = np.argsort(ids, kind="stable")
    ids, hashes = ids[order], hashes[order]
    broken = int(np.count_nonzero(ids[1:] == ids[:-1]))
    for batch in data.iter_batches(["cluster_id", "duplicate_of"], batch_rows):
        members = batch.filter(pl.col("duplicate_of").is_not_null())
        cluster = members["cluster_id"].cast(pl.Int64).to_numpy()
        at = np.minimum(np.searchsorted(ids, cluster), max(len(ids) - 1, 0))
        named = members["duplicate_of"].hash(TRAIL_SEED).to_numpy()
        ok = (ids[at] == cluster) & (hashes[at] == named) if len(ids) else np.zeros(len(cluster), bool)
        broken += int(np.count_nonzero(~ok))
    return broken


@dataclass(frozen=True)
class RowView:
    """How an input row becomes the (doc_id, date, source, text) that dedup hashes and joins on:
    `id_col` names the row id, `text` computes what is compared; date and source come from columns
    of those names, else from the partition."""

    id_col: str
    text: pl.Expr
    has_date: bool
    has_source: bool

    @property
    def columns(self) -> list[str]:
        """The input columns to read for signing."""
        wanted = [self.id_col, *self.text.meta.root_names(), *(["date"] if self.has_date else []), *(["source"] if self.has_source else [])]
        return list(dict.fromkeys(wanted))

    def rows(self, batch: pl.DataFrame, source: str, date: str) -> pl.DataFrame:
        """doc_id, text, date, source of the input rows of partition (date, source)."""
        return batch.select(
            pl.col(self.id_col).alias("doc_id"),
            self.text.alias("text"),
            pl.col("date") if self.has_date else pl.lit(date).str.to_date().alias("date"),
            pl.col("source") if self.has_source else pl.lit(source).alias("source"),
        )

    def apply(self, batch: pl.DataFrame, clusters: pl.DataFrame) -> Split:
        """`apply` on the id column (clusters name it doc_id)."""
        if self.id_col == "doc_id":
            return apply(batch, clusters)
        split = apply(batch.rename({self.id_col: "doc_id"}), clusters)
        back = {"doc_id": self.id_col}
        return Split(kept=split.kept.rename(back), dropped=split.dropped.rename(back))


@dataclass(frozen=True)
class PartitionTexts:
    """A text part of `verify: exact` (`clusters.TextPart`): rows [start, stop) of one stored
    partition (date, source) as `view` reads them, read in batches, only those of wanted documents
    of that date; nothing is read when the date has none."""

    data: PartitionData
    view: RowView
    source: str
    date: str
    rows: tuple[int, int]
    batch_rows: int = ROW_GROUP_ROWS  # a batch reads whole row groups, each once

    def __call__(self, wanted: pl.DataFrame) -> Iterator[pl.DataFrame]:
        ids = wanted.filter(pl.col("date") == pl.lit(self.date).str.to_date())["doc_id"]
        if ids.is_empty():
            return
        ids = ids.implode()
        for start, stop in row_slices(self.rows[1] - self.rows[0], self.batch_rows):
            batch = self.data.read_rows(self.rows[0] + start, self.rows[0] + stop, self.view.columns)
            yield self.view.rows(batch, self.source, self.date).filter(pl.col("doc_id").is_in(ids))

    @classmethod
    def parts(cls, data: PartitionData, view: RowView, source: str, date: str, rows_per_part: int) -> list[PartitionTexts]:
        """The partition's texts as parts of `rows_per_part` rows, one read task each."""
        data = data.pinned()
        return [cls(data, view, source, date, rows) for rows in row_slices(data.num_rows, rows_per_part)]


@dataclass(frozen=True)
class SignStep:
    """A batch of one partition's rows -> a Split that keeps their signatures (a map step for any engine;
    its kernels release the GIL, so the local engine signs two batches at once)."""

    gil_free: ClassVar[bool] = True

    view: RowView
    source: str
    date: str
    cfg: DedupCfg

    def __call__(self, batch: pl.DataFrame) -> Split:
        return Split(signatures(self.view.rows(batch, self.source, self.date), self.cfg))


def exact_jaccard(a: str, b: str, cfg: DedupCfg) -> float:
    """Jaccard similarity of the two texts' shingle sets (no sketch)."""
    sa, sb = set(shingles(a, cfg)), set(shingles(b, cfg))
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def sample_pairs_markdown(clusters: pl.DataFrame, texts: pl.DataFrame, cfg: DedupCfg, k: int = 5, width: int = 240) -> str:
    """A markdown table of up to k (representative, duplicate) pairs side by side, nearest to the
    threshold first (the pairs worth checking), with estimated and exact Jaccard.
    `texts` maps doc_id -> text for at least the documents shown."""
    dup = clusters.filter(pl.col("duplicate_of").is_not_null()).sort("est_jaccard", "doc_id").head(k)
    shown = pl.concat([dup["doc_id"], dup["duplicate_of"]]).implode()
    text_of = dict(texts.filter(pl.col("doc_id").is_in(shown)).select("doc_id", "text").iter_rows())

    def cell(doc_id: str) -> str:
        t = (text_of.get(doc_id) or "").replace("|", "\\|").replace("\n", " ")
        return f"`{doc_id}`<br>{t[:width]}{'…' if len(t) > width else ''}"

    lines = ["| kind | est. J | exact J | kept | dropped |", "|---|---|---|---|---|"]
    for row in dup.iter_rows(named=True):
        kept, dropped = row["duplicate_of"], row["doc_id"]
        exact = exact_jaccard(text_of.get(kept, ""), text_of.get(dropped, ""), cfg)
        lines.append(f"| {row['kind']} | {row['est_jaccard']:.2f} | {exact:.2f} | {cell(kept)} | {cell(dropped)} |")
    return "\n".join(lines)
