"""Two DAG runs on different data at the same time, under a real scheduler (LocalExecutor),
sharing one ML Metadata store (SQLite, WAL): both finish, and no log says "database is locked".

The test starts its own Airflow (api-server for the task execution API, scheduler,
dag-processor) in a fresh AIRFLOW_HOME, triggers the two runs from the CLI and waits for them."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from datetime import datetime

import pytest

from tests import data_cases
from tests.airflow.conftest import AIRFLOW, REPO, TFX_PYTHON, free_port

CONF = {"max_trials": 1, "epochs": 2, "strategy": "random"}


def _airflow(env, *args, timeout=600) -> str:
    out = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"airflow {' '.join(args)}:\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    )
    return out.stdout


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """A running Airflow: api-server, scheduler and dag-processor on LocalExecutor."""
    home = tmp_path_factory.mktemp("airflow-home")
    port = free_port()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="6",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        RETRAIN_SCHEDULE="none",
        RETRAIN_MAX_ACTIVE_RUNS="2",
        RETRAIN_STATE_DIR=str(home / "state"),
        PYTHONUNBUFFERED="1",
    )
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")
    _airflow(env, "pools", "set", "gpu", "1", "GPU slots for Tuner and Trainer")
    procs = []
    for name, args in [
        ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)]),
        ("scheduler", ["scheduler"]),
        ("dag-processor", ["dag-processor"]),
    ]:
        log = open(home / f"{name}.log", "w")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [AIRFLOW, *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((log, proc))
    try:
        yield env, home
    finally:
        for log, proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()


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
            [TFX_PYTHON, "-m", "pipelines.summary", "--run-id", run_id, "--settings", metadata,
             "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        nodes = json.loads(out.stdout.strip().splitlines()[-1])["nodes"]
        assert nodes["Pusher"]["state"] == "COMPLETE", nodes
