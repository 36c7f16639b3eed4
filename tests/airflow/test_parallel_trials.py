"""Parallel trials under a real scheduler: the Tuner (chief) and 2 TunerWorker mapped tasks run
at the same time (LocalExecutor, parallelism 6, gpu pool of 3) and share one search.
`airflow dags test` runs tasks one at a time, so it cannot run this.

Checks: every worker ran at least one trial, every trial id is unique, and the winner is
registered once."""

from __future__ import annotations

import json
import time

from tests.airflow.chaos import leaderboard
from tests.airflow.conftest import airflow_cli, running_airflow

CONF = {"parallel_trials": 2, "max_trials": 6, "epochs": 2, "strategy": "random"}
RUN_ID = "parallel-1"


def run_state(env) -> str:
    out = airflow_cli(env, "dags", "list-runs", "retrain", "--output", "json", timeout=120)
    rows = [ln for ln in out.splitlines() if ln.startswith("[")]  # warnings share stdout
    runs = {r["run_id"]: r for r in json.loads(rows[-1] if rows else "[]")}
    return runs.get(RUN_ID, {}).get("state", "")


def test_chief_and_two_workers_under_a_real_scheduler(tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    with running_airflow(home, gpu_slots=3) as (env, _):
        airflow_cli(env, "dags", "unpause", "retrain")
        airflow_cli(env, "dags", "trigger", "retrain", "--run-id", RUN_ID, "-c", json.dumps(CONF))
        deadline = time.time() + 1500
        state = ""
        while time.time() < deadline and state not in ("success", "failed"):
            time.sleep(15)
            state = run_state(env)
        logs = {
            p.relative_to(home).as_posix(): p.read_text(errors="replace")
            for p in home.rglob("*.log")
            if f"run_id={RUN_ID}" in p.as_posix()
        }
        everything = "\n".join(logs.values())
        assert state == "success", (state, everything[-8000:])

    tuner = "\n".join(t for p, t in logs.items() if "task_id=Tuner/" in p)
    workers = {p: t for p, t in logs.items() if "task_id=TunerWorker/" in p}
    assert len(workers) == 2, sorted(logs)
    assert "3 of 3 trial runners connected" in tuner

    rows = leaderboard(tuner)
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == CONF["max_trials"], ids
    ran = {r["runner"] for r in rows}
    assert {"runner-worker0", "runner-worker1"} <= ran, rows
    for text in workers.values():
        assert "NAS worker" in text and "ran 0 trial" not in text, text[-3000:]

    from mlflow import MlflowClient

    store = f"sqlite:///{home / 'state' / 'mlflow.db'}"
    versions = MlflowClient(store, registry_uri=store).search_model_versions(
        "name = 'penguin_classifier'"
    )
    assert len(versions) == 1, [v.version for v in versions]
