"""`question_classifier`, `exam_documents` + `non_exam_documents`, `exam_questions`, `math_questions` + `math_question_drops`."""

from functools import partial

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import CorpusEngine
from assets.common.metadata import frame_table
from assets.common.partitions import (
    DATE_SOURCE,
    SOURCES,
    partition_dims,
)
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag import trained
from corpus_dag.accounting import REASON, Split
from corpus_dag.exam.detect import KEYWORDS, ExamCfg, detect_exams
from corpus_dag.exam.features import NgramCfg
from corpus_dag.exam.labels import load_fragments, load_user_labels
from corpus_dag.exam.questions import (
    EXAM_QUESTION_SCHEMA,
    QuestionStats,
    QuestionStep,
    question_stats,
    select_math_split,
)
from corpus_dag.exam.split import QUESTIONS_TYPE, SplitCfg
from corpus_dag.exam.transformer import TransformerCfg
from corpus_dag.exam.validity import TRAINING_PACKAGES, VALIDITY_THRESHOLD, train_models, training_code
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
from corpus_dag.storage import PartitionData

COMMON = {"owners": ["team:corpus"], "group_name": "exam"}
MODEL_PATH = "models/question_classifier/model.pkl"
EXAM_SCHEMA = RAW_DOCUMENTS_SCHEMA | {"exam_score": pl.Float64}
EXAM_DOCS = Out("exam_documents", EXAM_SCHEMA | {REASON: pl.String, "questions": QUESTIONS_TYPE})
NON_EXAM = Out("non_exam_documents", EXAM_SCHEMA | {REASON: pl.String})
MATH = Out("math_questions", EXAM_QUESTION_SCHEMA)
MATH_DROPS = Out("math_question_drops", {"question_id": pl.String, "doc_id": pl.String, REASON: pl.String})


class ClassifierConfig(dg.Config):
    user_labels: str = Field(default="labels/exam_fragments.jsonl", description="Your labels under CORPUS_ROOT, JSONL "
                             "{text, label: 1/0}; optional; they go to training and outweigh the built ones.")
    threshold: float = Field(default=VALIDITY_THRESHOLD, description="P(valid) from which a fragment is kept.")
    hash_dim: int = Field(default=NgramCfg.dim, description="Hashed n-gram space (a power of two); smaller trains faster.")
    backend: str = Field(default="ngram", description="Validity model: ngram (CPU, seconds) or transformers (fine-tunes an encoder; for a GPU).")
    base_model: str = Field(default="", description="transformers: local folder or hub id to fine-tune; empty: a small encoder from scratch.")
    epochs: int = Field(default=TransformerCfg.epochs, description="transformers: training epochs.")
    max_length: int = Field(default=TransformerCfg.max_length, description="transformers: tokens per fragment.")
    device: str = Field(default=TransformerCfg.device, description="transformers: torch device; auto: cuda when there is one.")
    retrain: bool = Field(default=False, description="Train even when the stored model was trained from the same labels, settings and code.")

    def transformer(self) -> TransformerCfg | None:
        if self.backend not in ("ngram", "transformers"):
            raise dg.Failure(f"question_classifier backend must be 'ngram' or 'transformers', got {self.backend!r}")
        if self.backend == "ngram":
            return None
        return TransformerCfg(base_model=self.base_model, epochs=self.epochs, max_length=self.max_length, device=self.device)


@dg.asset(
    description="The fragment classifiers (validity: is this a usable question; subject): char n-gram logistic "
    f"regressions stored at {MODEL_PATH}, trained on fragments built from public questions plus the user's labels "
    "file; held-out precision/recall in metadata. Config `backend: transformers` fine-tunes an encoder for validity "
    "instead (`base_model`, `device`; for a GPU). Materialized again from the same labels, settings and code, it "
    "reuses the stored model (`reused: true`; config `retrain` trains anyway).",
    kinds={"scikit-learn", "pytorch"},
    tags={"stage": "exam"},
    **COMMON,
)
def question_classifier(context: dg.AssetExecutionContext, config: ClassifierConfig, storage: CorpusStorage) -> dg.MaterializeResult:
    """Re-materialize after adding labels to {CORPUS_ROOT}/labels/exam_fragments.jsonl."""
    store = storage.store()
    users = []
    if store.exists(config.user_labels):
        users = load_user_labels(store.abs(config.user_labels))
        context.log.info(f"{len(users)} user labels from {store.url(config.user_labels)}")
    fragments, transformer = load_fragments(), config.transformer()
    digest = trained.fingerprint(fragments + users, config.model_dump(exclude={"user_labels", "retrain"}), training_code(),
                                 TRAINING_PACKAGES)

    def train() -> dict:
        models = train_models(fragments, users, ngram=NgramCfg(dim=config.hash_dim), threshold=config.threshold,
                              transformer=transformer, log=context.log.info)
        store.write_bytes(MODEL_PATH, models.to_bytes())
        return models.metrics

    metrics, reused = trained.train_once(store, MODEL_PATH, digest, train, retrain=config.retrain)
    if reused:
        context.log.info(f"{store.url(MODEL_PATH)} was trained from these labels, settings and code: reused (config retrain: true trains again)")
    return dg.MaterializeResult(
        metadata={**metrics, "reused": reused, "path": dg.MetadataValue.path(store.url(MODEL_PATH)), "user_labels_file": store.url(config.user_labels)}
    )


class DetectConfig(dg.Config):
    keywords: list[str] = Field(
        default=list(KEYWORDS),
        description="Exam-word lexicon (试卷, 周练, 课时作业, 学情调研, ...): one word of it in the title or the text's first "
        "120 characters is one weighted feature of the score, never required nor sufficient.")
    min_score: float = Field(default=ExamCfg.min_score, description="Structure score (0..1) from which a document is a paper.")
    min_questions: int = Field(default=ExamCfg.min_questions, description="Fewest numbered questions a paper has.")
    max_skip: int = Field(default=SplitCfg.max_skip, description="Question numbers a chain may jump (marks lost in the dump).")
    batch_rows: int = Field(default=2_000, description="raw_documents rows per batch.")


@dg.multi_asset(
    specs=split_specs(
        EXAM_DOCS.asset,
        NON_EXAM.asset,
        kept_doc="raw_documents rows that are exam papers by their structure (a numbering chain, options, section "
        "and material-group headers, score marks, items that ask something), an exam word being one feature of the "
        "score; + `exam_score`, `reason`, and `questions` (the split the score came from: question_no, section, "
        "text, paper, context), which exam_questions reads instead of splitting again.",
        dropped_doc="raw_documents rows that are not exam papers, with the reason (too few numbered questions, or a "
        "weak paper structure) and the evidence.",
        deps=["raw_documents"],
        stage="exam",
        **COMMON,
    ),
    ins={"docs": dg.AssetIn("raw_documents")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def exam_documents(context: dg.AssetExecutionContext, config: DetectConfig, storage: CorpusStorage, engine: CorpusEngine,
                   docs: PartitionData):
    """Only sources of kind exam_library are read; others get empty partitions."""
    cfg = ExamCfg(tuple(config.keywords), config.min_score, config.min_questions, SplitCfg(max_skip=config.max_skip))
    source = SOURCES.get(partition_dims(context)["source"])
    applies = source.applies("exam")
    note = {"applies": applies, "note": "" if applies else f"source kind {source.kind}: not an exam library"}
    yield from map_split(context, storage.store(), engine, docs if applies else None, partial(detect_exams, cfg=cfg),
                         EXAM_DOCS, NON_EXAM, stage="exam", batch_rows=config.batch_rows, extra_metadata=lambda _t: note)


class QuestionConfig(dg.Config):
    batch_rows: int = Field(default=500, ge=1, description="Exam papers per batch.")


@dg.asset(
    partitions_def=DATE_SOURCE,
    ins={"docs": dg.AssetIn(EXAM_DOCS.asset)},
    deps=["question_classifier"],
    description="One row per split question fragment: question_id ({doc_id}-q{n}), doc_id, question_no (as printed), "
    "section, text (without the number; options and sub-questions inside), context (the material a group of "
    "questions shares, `阅读材料，完成 9～11 题`; null for an ordinary question), subject, is_valid, valid_score.",
    kinds={"scikit-learn", "polars", "parquet"},
    tags={"stage": "exam"},
    **COMMON,
)
def exam_questions(context: dg.AssetExecutionContext, config: QuestionConfig, storage: CorpusStorage,
                   engine: CorpusEngine, docs: PartitionData) -> dg.MaterializeResult:
    store = storage.store()
    if not store.exists(MODEL_PATH):
        raise dg.Failure(f"no classifier at {store.url(MODEL_PATH)}: materialize question_classifier first")
    step = QuestionStep(store.read_bytes(MODEL_PATH))

    def extra(tally) -> dict:
        seen: list[QuestionStats] = [question_stats(Split(pl.DataFrame(schema=EXAM_QUESTION_SCHEMA))), *tally.summaries]
        subjects = pl.concat([s.subjects for s in seen]).group_by("subject").agg(pl.col("questions").sum(), pl.col("valid").sum())
        per_doc = pl.concat([s.per_document for s in seen])
        return {
            "exam_documents": tally.n_in,
            "documents_with_questions": per_doc.len(),
            "questions_per_document_median": float(per_doc.median()) if per_doc.len() else 0.0,
            "invalid_share": round(1 - subjects["valid"].sum() / tally.n_out, 4) if tally.n_out else 0.0,
            "subjects": frame_table(subjects.sort(["questions", "subject"], descending=[True, False]), max_rows=20),
            "classifier_metrics": dg.MetadataValue.json(step.metrics),
        }

    return map_split(context, store, engine, docs, step, Out("exam_questions", EXAM_QUESTION_SCHEMA), stage="exam",
                     batch_rows=config.batch_rows, columns=["doc_id", "title", "text", "questions"], summarize=question_stats,
                     extra_metadata=extra)[0]


@dg.multi_asset(
    specs=split_specs(
        MATH.asset,
        MATH_DROPS.asset,
        kept_doc="exam_questions rows that are valid and of subject 数学, ready for the rebuild stage.",
        dropped_doc="question_id, doc_id and why the question is not in math_questions.",
        deps=["exam_questions"],
        stage="exam",
        **COMMON,
    ),
    ins={"questions": dg.AssetIn("exam_questions")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def math_questions(context: dg.AssetExecutionContext, storage: CorpusStorage, engine: CorpusEngine, questions: PartitionData):
    yield from map_split(context, storage.store(), engine, questions, partial(select_math_split, drop_columns=list(MATH_DROPS.schema)),
                         MATH, MATH_DROPS, stage="exam", batch_rows=50_000)
