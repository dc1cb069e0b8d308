"""The exam stages through a real Dagster instance on the shipped sample library."""
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.definitions import defs
from assets.exam.assets import MODEL_PATH
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


def test_question_classifier_is_reused_until_its_labels_change(corpus_root, dagster_instance):
    """A second materialization from the same labels, settings and code reuses the stored model and
    its figures; a user label added (or `retrain`) trains again."""
    store = CorpusStore(corpus_root)

    def materialize(**config) -> dict:
        run = dg.materialize(defs.assets, instance=dagster_instance, resources=defs.resources, selection=["question_classifier"],
                             run_config={"ops": {"question_classifier": {"config": {"hash_dim": 4096} | config}}})
        return {k: v.value for k, v in run.get_asset_materialization_events()[0].materialization.metadata.items()}

    first = materialize()
    model = store.read_bytes(MODEL_PATH)
    again = materialize()
    assert (first["reused"], again["reused"]) == (False, True)
    assert {k: v for k, v in again.items() if k != "reused"} == {k: v for k, v in first.items() if k != "reused"}
    assert store.read_bytes(MODEL_PATH) == model
    assert materialize(retrain=True)["reused"] is False
    store.write_bytes("labels/exam_fragments.jsonl", '{"text": "第 3 页 共 8 页", "label": 0}\n'.encode())
    relabelled = materialize()
    assert relabelled["reused"] is False and relabelled["n_user_labels"] == 1
