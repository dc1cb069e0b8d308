"""The exam stages through a real Dagster instance on the shipped sample library."""
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.definitions import defs
from corpus_dag.exam.questions import EXAM_QUESTION_SCHEMA
from corpus_dag.storage import CorpusStore
from tests.helpers import table_rows

REPO = Path(__file__).resolve().parent.parent
PK = "2026-11-21|wenku"
DIMS = {"date": "2026-11-21", "source": "wenku"}


@pytest.mark.slow
def test_sample_library_to_math_questions(corpus_root, dagster_instance, installed_classifier):
    folder = Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-21"))
    folder.mkdir(parents=True)
    shutil.copy(REPO / "samples/library/wenku/2026-11-21/part-0.jsonl.gz", folder)
    everything = [*defs.assets, *defs.asset_checks]
    result = dg.materialize(
        everything, instance=dagster_instance, resources=defs.resources, partition_key=PK,
        selection=["raw_documents", "rejected_documents", "exam_documents", "non_exam_documents",
                   "exam_questions", "math_questions", "math_question_drops"],
    )
    assert result.success
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert checks["questions_per_exam_document"].passed and checks["question_columns"].passed
    assert checks["invalid_share_and_subjects"].passed
    store = CorpusStore(corpus_root)
    raw = store.num_rows(CorpusStore.partition_path("raw_documents", DIMS))
    exams = store.read(CorpusStore.partition_path("exam_documents", DIMS))
    others = store.num_rows(CorpusStore.partition_path("non_exam_documents", DIMS))
    assert exams.height + others == raw and exams["reason"].str.starts_with("exam: ").all()
    q = store.read(CorpusStore.partition_path("exam_questions", DIMS))
    math = store.read(CorpusStore.partition_path("math_questions", DIMS))
    drops = store.num_rows(CorpusStore.partition_path("math_question_drops", DIMS))
    assert math.height + drops == q.height and math.height > 0 and (math["subject"] == "数学").all()
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("exam_questions")).asset_materialization
    subjects = {r["subject"]: r for r in table_rows(mat.metadata["subjects"])}
    assert subjects["数学"]["valid"] == math.height
    assert [c.name for c in mat.metadata["dagster/column_schema"].value.columns] == list(EXAM_QUESTION_SCHEMA)
    docs_mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("exam_documents")).asset_materialization
    assert "questions" in [c.name for c in docs_mat.metadata["dagster/column_schema"].value.columns]
