"""The retraining DAG end to end through real Airflow (`airflow dags test`), real TFX components and
a real ML Metadata store, on a small sample of the bundled penguins, with the embedded MLflow
store. Then drifted data stops the next run at validation and keeps the champion. (A second run
on the same data, its data nodes CACHED, is checked on test_mlflow_registry's second run; the
other bad-data cases node by node in tests/pipeline/test_data_validation.py.)"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from tests.airflow.conftest import SENTINEL, dag_test, run_summary

DATA_NODES = ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform"]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


def summary(run_id: str, state_dir) -> dict:
    return run_summary(run_id, state_dir / "metadata.sqlite")


@pytest.fixture(scope="module")
def first_run(airflow_db, sample, state_dir):
    conf = {"data": str(sample), "epochs": 5, "max_trials": 1}
    run_id, state, log = dag_test(conf, state_dir)
    assert state == "success", log[-5000:]
    (state_dir / "first_run.log").write_text(log)
    return run_id, conf


def test_dag_run_blesses_and_pushes_a_model(first_run, state_dir):
    run_id, _ = first_run
    s = summary(run_id, state_dir)
    assert set(s["nodes"]) >= {*DATA_NODES, "Tuner", "Trainer", "Evaluator", "Pusher"}
    assert all(n["state"] in ("COMPLETE", "CACHED") for n in s["nodes"].values()), s["nodes"]
    assert s["blessed"] is True, s
    assert s["accuracy"] >= 0.9
    assert s["pushed_to"] == "models:/penguin_classifier/1"
    assert (state_dir / "mlflow.db").exists(), "no embedded MLflow store beside ML Metadata"


def test_no_secret_in_task_logs_mlflow_or_metadata(first_run, state_dir):
    """The sentinel password (environment and Airflow connection) appears in no task log, no
    MLflow param or tag, and no other file the run wrote."""
    import sqlite3

    # `airflow dags test` writes every task's log to its own output; a scheduler writes files.
    output = (state_dir / "first_run.log").read_text()
    assert "NAS trial" in output and "RESULT " in output, "the task logs are not in the output"
    assert SENTINEL not in output
    logs = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*") if p.is_file()]
    assert not [p for p in logs if SENTINEL.encode() in p.read_bytes()]
    with sqlite3.connect(state_dir / "mlflow.db") as db:
        params = db.execute("SELECT key, value FROM params").fetchall()
        tags = db.execute("SELECT key, value FROM tags").fetchall()
        tags += db.execute("SELECT key, value FROM model_version_tags").fetchall()
    assert params and tags
    assert not [kv for kv in params + tags if SENTINEL in f"{kv[0]}={kv[1]}"]
    written = [p for p in state_dir.rglob("*") if p.is_file() and p.name != "first_run.log"]
    assert not [p for p in written if SENTINEL.encode() in p.read_bytes()]


def registry_state(state_dir) -> tuple[list, list]:
    import sqlite3

    with sqlite3.connect(state_dir / "mlflow.db") as db:
        versions = db.execute("SELECT name, version FROM model_versions ORDER BY 1, 2").fetchall()
        aliases = db.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY 1, 2"
        ).fetchall()
    return versions, aliases


# Each case is a DAG run: drift needs the previous span of a real run; every case, drift
# included, is checked node by node in tests/pipeline/test_data_validation.py.
@pytest.mark.parametrize("case", ["drift"])
def test_bad_data_stops_at_validation_and_keeps_the_champion(case, first_run, sample, state_dir):
    """The run fails at ExampleValidator with a line naming the column and anomaly; nothing
    downstream runs, no version is registered and @champion stays where it was."""
    from tests import data_cases

    _, conf = first_run
    column, kind = data_cases.VALIDATION_CASES[case]
    before = registry_state(state_dir)
    assert any(alias == "champion" for _, alias, _ in before[1]), before
    original = (sample / "penguins.csv").read_bytes()
    header, *body = list(csv.reader(original.decode().splitlines()))
    try:
        (sample / "penguins.csv").unlink()
        data_cases.write(sample, *data_cases.case_data(case, body))
        run_id, state, log = dag_test(conf, state_dir)
    finally:
        for f in sample.glob("*.csv"):
            f.unlink()
        (sample / "penguins.csv").write_bytes(original)
    assert state == "failed", log[-5000:]
    failed = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert failed and "node ExampleValidator" in failed[0], failed or log[-5000:]
    assert f"column {column}: {kind}" in failed[0], failed[0]
    assert f"DATA ANOMALY: column {column}: {kind}" in log
    ran = summary(run_id, state_dir)["nodes"]
    assert not {"Transform", "Tuner", "Trainer", "Evaluator", "Pusher"} & set(ran), ran
    assert registry_state(state_dir) == before
