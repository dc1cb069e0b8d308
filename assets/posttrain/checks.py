"""Checks on the post-training assets: blocking schema checks, and every input row accounted for."""
import dagster as dg
import polars as pl

from assets.common.checks import gx_check
from assets.posttrain.assets import DPO, DPO_DROPS, RFT, RFT_DROPS, SCORED, SCORED_DROPS, SELF_INSTRUCT, SELF_INSTRUCT_DROPS
from corpus_dag.posttrain.dpo import PAIR_TYPES
from corpus_dag.accounting import REASON
from corpus_dag.posttrain.select import HARD, NORMAL
from corpus_dag.posttrain.self_instruct import instruction_place
from corpus_dag.posttrain.stage import rft_questions, stream_scored_paths
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome


def _rows(store: CorpusStore, asset: str, dims: dict[str, str]) -> PartitionData:
    return PartitionData(store, CorpusStore.partition_path(asset, dims))


def _scored_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(SCORED.schema)),
        gxe.ExpectColumnValuesToBeUnique(column="item_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="critique_score"),  # kept paths passed the critique cut
        gxe.ExpectColumnValuesToBeBetween(column="critique_score", min_value=0, max_value=10),
        gxe.ExpectColumnValuesToBeInSet(column="difficulty", value_set=[HARD, NORMAL]),
    ]


def _rft_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(RFT.schema)),
        gxe.ExpectColumnValuesToBeUnique(column="item_id"),
        gxe.ExpectColumnValuesToBeBetween(column="min_distance", min_value=0, max_value=1),
    ]


def _dpo_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(DPO.schema)),
        gxe.ExpectColumnValuesToBeUnique(column="pair_id"),
        gxe.ExpectColumnValuesToBeInSet(column="pair_type", value_set=list(PAIR_TYPES)),
        gxe.ExpectColumnValuesToNotBeNull(column="chosen_item_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="rejected_item_id"),
    ]


def _self_instruct_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(SELF_INSTRUCT.schema)),
        gxe.ExpectColumnValuesToBeUnique(column="question_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="instruction"),
    ]


def _balance(label_in: str, n_in: int, parts: dict[str, int]):
    detail = " - ".join(f"{k} {v}" for k, v in parts.items())
    return metric_outcome(f"{label_in} {n_in} - {detail}", n_in - sum(parts.values()), 0, 0)


def _reasonless(store: CorpusStore, asset: str, dims: dict[str, str]):
    """Rows of a drops asset without a reason: a drop must say why."""
    missing = _rows(store, asset, dims).read([REASON]).filter(pl.col(REASON).fill_null("") == "").height
    return metric_outcome(f"drops without a reason ({asset})", missing, 0, 0)


def _scored_accounting(context, store, dims):
    """rebuilt paths = scored + scored drops, each drop with its reason."""
    parts = {a: _rows(store, a, dims).num_rows for a in (SCORED.asset, SCORED_DROPS.asset)}
    return [_balance("rebuilt", _rows(store, "rebuilt_math_items", dims).num_rows, parts), _reasonless(store, SCORED_DROPS.asset, dims)]


def _rft_accounting(context, store, dims):
    """rft + rft drops = the scored paths of questions not sampled + N fresh paths per sampled question
    (N = 1 + the highest sample index written, so a lost sample below it shows)."""
    sampled, unsampled = set(), 0
    for paths in stream_scored_paths(*(_rows(store, a, dims) for a in (SCORED.asset, SCORED_DROPS.asset))):
        questions, rest = rft_questions(paths)
        sampled.update(questions["question_id"])
        unsampled += rest.height
    kept = _rows(store, RFT.asset, dims).read(["question_id", "item_id"]).filter(pl.col("question_id").is_in(list(sampled)))
    drops = _rows(store, RFT_DROPS.asset, dims).read(["question_id", "sample_idx"]).filter(pl.col("question_id").is_in(list(sampled)))
    indexes = kept["item_id"].str.extract(r"-s(\d+)$").cast(pl.Int64).to_list() + drops["sample_idx"].to_list()
    n = 1 + max((i for i in indexes if i is not None), default=-1)
    label = f"rft input (scored paths of questions not sampled {unsampled} + {n} fresh paths x {len(sampled)} questions)"
    return [_balance(label, unsampled + n * len(sampled), {a: _rows(store, a, dims).num_rows for a in (RFT.asset, RFT_DROPS.asset)}),
            _reasonless(store, RFT_DROPS.asset, dims)]


def _dpo_accounting(context, store, dims):
    """Every scored question has pairs or an unpaired row with its reason, never both."""
    questions = {q for a in (SCORED.asset, SCORED_DROPS.asset) for q in _rows(store, a, dims).read(["question_id"])["question_id"]}
    paired = set(_rows(store, DPO.asset, dims).read(["question_id"])["question_id"])
    unpaired = set(_rows(store, DPO_DROPS.asset, dims).read(["question_id"])["question_id"])
    return [_balance("scored questions", len(questions), {"paired": len(paired), "unpaired": len(unpaired)}),
            metric_outcome("questions both paired and unpaired", len(paired & unpaired), 0, 0), _reasonless(store, DPO_DROPS.asset, dims)]


def _self_instruct_accounting(context, store, dims):
    """Each generated instruction (its id says `n of total`) is kept, or dropped with a reason, exactly once."""
    kept = _rows(store, SELF_INSTRUCT.asset, dims).read(["question_id"])["question_id"].to_list()
    drops = _rows(store, SELF_INSTRUCT_DROPS.asset, dims).read(["instruction_id"])
    ids = kept + drops["instruction_id"].to_list()
    places = [instruction_place(i) for i in ids]
    total = max((p[1] for p in places if p), default=0)
    seen = {p[0] for p in places if p and p[1] == total and p[0] < total}
    return [metric_outcome(f"instructions accounted twice (of {len(ids)})", len(ids) - len(set(ids)), 0, 0),
            metric_outcome(f"generated instructions neither kept nor dropped (of {total})", total - len(seen), 0, 0),
            metric_outcome("instruction ids without their place (n of the partition's total)",
                           sum(p is None or p[1] != total or p[0] >= total for p in places), 0, 0),
            _reasonless(store, SELF_INSTRUCT_DROPS.asset, dims)]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(asset=SCORED.asset, name="scored_rows", columns=list(SCORED.schema), expectations=_scored_expectations,
             description="Columns as documented, unique item_id, kept critique scores in [0, 10], difficulty hard/normal."),
    gx_check(asset=SCORED.asset, name="every_path_accounted", metrics=_scored_accounting,
             description="rebuilt_math_items rows = scored_math_items + scored_math_drops; every drop has a reason."),
    gx_check(asset=RFT.asset, name="rft_rows", columns=list(RFT.schema), expectations=_rft_expectations,
             description="Columns as documented, unique item_id, min_distance in [0, 1]."),
    gx_check(asset=RFT.asset, name="every_scored_path_accounted", metrics=_rft_accounting,
             description="rft_math_items + rft_math_drops = N fresh paths per sampled (verified) question + the scored paths of questions not sampled; every drop has a reason."),
    gx_check(asset=DPO.asset, name="pair_rows", columns=list(DPO.schema), expectations=_dpo_expectations,
             description="Columns as documented, unique pair_id, a known pair_type, both item ids present."),
    gx_check(asset=DPO.asset, name="every_question_accounted", metrics=_dpo_accounting,
             description="Each scored question has pairs or an unpaired row with its reason, never both; every unpaired row has a reason."),
    gx_check(asset=SELF_INSTRUCT.asset, name="instruction_rows", columns=list(SELF_INSTRUCT.schema),
             expectations=_self_instruct_expectations, description="Columns as documented, unique ids, an instruction on every row."),
    gx_check(asset=SELF_INSTRUCT.asset, name="every_instruction_accounted", metrics=_self_instruct_accounting,
             description="Every generated instruction (its id says n of total) is kept or dropped with a reason, once."),
]
