"""The retraining DAG end to end through real Airflow (`airflow dags test`), real TFX components, a
real ML Metadata store and a real MLflow server, on a small sample of the bundled penguins: the
first of the runs shared with test_mlflow_registry (conftest.registry_runs) blesses and pushes
a model, and no secret leaks anywhere. Then drifted data stops the next run at validation and
keeps the champion. (The second run on the same data, its data nodes CACHED, is checked in
test_mlflow_registry; the other bad-data cases node by node in
tests/pipeline/test_data_validation.py; the embedded MLflow store in test_concurrent_runs.)"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from tests.airflow.conftest import SENTINEL, dag_test, run_summary

DATA_NODES = ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform"]


def summary(run_id: str, runs: dict) -> dict:
    return run_summary(run_id, runs["state"] / "metadata.sqlite", runs["mlflow"])


def test_dag_run_blesses_and_pushes_a_model(registry_runs):
    s = summary(registry_runs[1], registry_runs)
    assert set(s["nodes"]) >= {*DATA_NODES, "Tuner", "Trainer", "Evaluator", "Pusher"}
    assert all(n["state"] in ("COMPLETE", "CACHED") for n in s["nodes"].values()), s["nodes"]
    assert s["blessed"] is True, s
    # The gate's figure beside the trivial baseline's on the same test rows (a 2-epoch model).
    gate = s["gate"]
    assert gate["metric"] == "log_loss" and gate["value"] < gate["trivial"], gate
    assert gate["state"] == "champion" and gate["champion"] is None, gate
    assert s["accuracy"] >= 0.5
    assert s["pushed_to"] == "models:/penguin_classifier/1"


def test_no_secret_in_task_logs_mlflow_or_metadata(registry_runs):
    """The sentinel password (environment and Airflow connection) appears in no task log, no
    MLflow param or tag, and no other file the runs wrote (state and MLflow server)."""
    import sqlite3

    # `airflow dags test` writes every task's log to its own output; a scheduler writes files.
    output = "".join(registry_runs[k] for k in ("log1", "log2", "failed_log"))
    assert "NAS trial" in output and "RESULT " in output, "the task logs are not in the output"
    assert SENTINEL not in output
    logs = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*") if p.is_file()]
    assert not [p for p in logs if SENTINEL.encode() in p.read_bytes()]
    with sqlite3.connect(registry_runs["mlflow_root"] / "mlflow.db") as db:
        params = db.execute("SELECT key, value FROM params").fetchall()
        tags = db.execute("SELECT key, value FROM tags").fetchall()
        tags += db.execute("SELECT key, value FROM model_version_tags").fetchall()
    assert params and tags
    assert not [kv for kv in params + tags if SENTINEL in f"{kv[0]}={kv[1]}"]
    for root in (registry_runs["state"], registry_runs["mlflow_root"]):
        written = [p for p in root.rglob("*") if p.is_file()]
        assert written and not [p for p in written if SENTINEL.encode() in p.read_bytes()]


def registry_state(mlflow_root) -> tuple[list, list]:
    import sqlite3

    with sqlite3.connect(mlflow_root / "mlflow.db") as db:
        versions = db.execute("SELECT name, version FROM model_versions ORDER BY 1, 2").fetchall()
        aliases = db.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY 1, 2"
        ).fetchall()
    return versions, aliases


# Each case is a DAG run: drift needs the previous span of a real run; every case, drift
# included, is checked node by node in tests/pipeline/test_data_validation.py.
@pytest.mark.parametrize("case", ["drift"])
def test_bad_data_stops_at_validation_and_keeps_the_champion(case, registry_runs):
    """The run fails at ExampleValidator with a line naming the column and anomaly; nothing
    downstream runs, no version is registered and @champion stays where it was."""
    from tests import data_cases

    conf, state_dir = registry_runs["conf"], registry_runs["state"]
    sample, mlflow_root = Path(conf["data"]), registry_runs["mlflow_root"]
    column, kind = data_cases.VALIDATION_CASES[case]
    before = registry_state(mlflow_root)
    assert any(alias == "champion" for _, alias, _ in before[1]), before
    original = (sample / "penguins.csv").read_bytes()
    header, *body = list(csv.reader(original.decode().splitlines()))
    try:
        (sample / "penguins.csv").unlink()
        data_cases.write(sample, *data_cases.case_data(case, body))
        run_id, state, log = dag_test(conf, state_dir, MLFLOW_TRACKING_URI=registry_runs["mlflow"])
    finally:
        for f in sample.glob("*.csv"):
            f.unlink()
        (sample / "penguins.csv").write_bytes(original)
    assert state == "failed", log[-5000:]
    failed = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert failed and "node ExampleValidator" in failed[0], failed or log[-5000:]
    assert f"column {column}: {kind}" in failed[0], failed[0]
    assert f"DATA ANOMALY: column {column}: {kind}" in log
    ran = summary(run_id, registry_runs)["nodes"]
    assert not {"Transform", "Tuner", "Trainer", "Evaluator", "Pusher"} & set(ran), ran
    assert registry_state(mlflow_root) == before
