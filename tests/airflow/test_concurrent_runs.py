"""Two DAG runs on different data at the same time, under a real scheduler (LocalExecutor),
sharing one ML Metadata store (SQLite, WAL): both finish, and no log says "database is locked".

The test starts its own Airflow (api-server for the task execution API, scheduler,
dag-processor) in a fresh AIRFLOW_HOME, triggers the two runs from the CLI and waits for them."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime

import pytest

from tests import data_cases
from tests.airflow.conftest import REPO, TFX_PYTHON, running_airflow
from tests.airflow.conftest import airflow_cli as _airflow

CONF = {"max_trials": 1, "epochs": 2, "strategy": "random"}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    with running_airflow(home, RETRAIN_MAX_ACTIVE_RUNS="2") as (env, _):
        yield env, home


def _runs(env) -> dict[str, dict]:
    out = _airflow(env, "dags", "list-runs", "retrain", "--output", "json", timeout=120)
    rows = [ln for ln in out.splitlines() if ln.startswith("[")]  # warnings share stdout
    return {r["run_id"]: r for r in json.loads(rows[-1] if rows else "[]")}


def test_two_runs_on_different_data_share_one_metadata_store(airflow, tmp_path):
    env, home = airflow
    header, _ = data_cases.rows()
    for name, span in zip(("a", "b"), data_cases.spans(), strict=True):
        data_cases.write(tmp_path / name, header, span)
    _airflow(env, "dags", "unpause", "retrain")
    for name in ("a", "b"):
        conf = {**CONF, "data": str(tmp_path / name)}
        _airflow(
            env, "dags", "trigger", "retrain", "--run-id", f"run-{name}", "-c", json.dumps(conf)
        )

    deadline = time.time() + 2400
    while time.time() < deadline:
        runs = _runs(env)
        states = {r: runs[r]["state"] for r in ("run-a", "run-b") if r in runs}
        if len(states) == 2 and all(s in ("success", "failed") for s in states.values()):
            break
        time.sleep(15)
    logs = "\n".join(p.read_text(errors="replace") for p in home.rglob("*.log") if p.is_file())
    assert states == {"run-a": "success", "run-b": "success"}, (states, logs[-6000:])
    a, b = (runs[r] for r in ("run-a", "run-b"))
    start = max(datetime.fromisoformat(a["start_date"]), datetime.fromisoformat(b["start_date"]))
    end = min(datetime.fromisoformat(a["end_date"]), datetime.fromisoformat(b["end_date"]))
    assert start < end, f"the runs did not overlap: {a} {b}"
    assert "database is locked" not in logs
    assert "RETRAIN RETRY" not in logs and "RETRAIN FAILED" not in logs

    metadata = json.dumps({"metadata_path": str(home / "state" / "metadata.sqlite")})
    for run_id in ("run-a", "run-b"):
        out = subprocess.run(
            [
                TFX_PYTHON,
                "-m",
                "pipelines.summary",
                "--run-id",
                run_id,
                "--settings",
                metadata,
                "--json",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        nodes = json.loads(out.stdout.strip().splitlines()[-1])["nodes"]
        assert nodes["Pusher"]["state"] == "COMPLETE", nodes
