"""The production profile measured: the penguin DAG on it against `make run`, and kill -9 of the
Tuner's Celery worker under the real scheduler, many rounds.

    .venv/airflow/bin/python bench/production/run.py --pairs 2 --kill-rounds 10

1. **Side by side.** `make run` (the embedded defaults: `airflow dags test`, SQLite for Airflow,
   ML Metadata and MLflow, one process) and the same DAG with the same Params on the profile
   (stack/: PostgreSQL, Celery on Redis with two workers, FAB auth, MLflow with basic auth),
   triggered through the REST API as an operator. Pairs alternate which side goes first. Each
   run trains on its own copy of the bundled penguins (so nothing is served from TFX's cache)
   and `make run` gets a fresh AIRFLOW_HOME and state folder. Timed: trigger to the run's end.
2. **Kill rounds.** On the same stack, each round triggers a run with
   tests/airflow/celery_chaos.CONF, kills the worker running the Tuner (its whole process tree)
   and that worker's warm executors once a trial has finished and the next has checkpointed,
   waits for the run, then starts the killed worker again for the next round. Checked per
   round: the run succeeds; the Tuner's last try ran on the other worker; the node's process
   ended with its executor; no trial finished before the kill ran again; every trial ran once;
   exactly one model version came from the run.

Writes bench/production/results.json; bench/production/RESULTS.md is written from it by hand.
`--pairs 0 --kill-rounds 1` is the smoke run; tests/airflow/test_production.py's DAG run is one
kill round through `kill_round` on the test's own stack, in `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402
from stack.client import Airflow, MLflow  # noqa: E402
from stack.native import Stack  # noqa: E402
from tests.airflow import celery_chaos  # noqa: E402

DAG = "retrain"
MODEL = "penguin_classifier"
SETTINGS = {"explain": False, "edge_export": False, "data_profile": False}


def data_copy(work: Path, name: str) -> Path:
    folder = work / "data" / name
    shutil.copytree(REPO / "data" / "penguins", folder)
    return folder


def make_run(work: Path, name: str, conf: dict) -> dict:
    """`make run` with its own AIRFLOW_HOME and state; (seconds, state)."""
    home = work / f"make-run-{name}"
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home / "airflow"),
        RETRAIN_STATE_DIR=str(home / "state"),
        RETRAIN_SETTINGS=json.dumps(SETTINGS),
    )
    start = time.monotonic()
    out = subprocess.run(
        ["make", "--no-print-directory", "run", f"CONF={json.dumps(conf)}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    return {
        "side": "make run",
        "seconds": round(time.monotonic() - start, 1),
        "state": "success" if out.returncode == 0 else f"failed: {out.stderr[-300:]}",
    }


def profile_run(airflow: Airflow, conf: dict) -> dict:
    start = time.monotonic()
    status, run = airflow.trigger(DAG, conf)
    assert status == 200, run
    state = airflow.wait(DAG, run["dag_run_id"], 3600)
    tis = airflow.task_instances(DAG, run["dag_run_id"])
    return {
        "side": "profile",
        "seconds": round(time.monotonic() - start, 1),
        "state": state,
        "hosts": sorted({t["hostname"] for t in tis if t["hostname"]}),
    }


def kill_round(
    stack: Stack,
    airflow: Airflow,
    mlflow: MLflow,
    work: Path,
    i: int,
    data: Path | None = None,
    also: Callable[[str], None] | None = None,
) -> dict:
    """One round: trigger, kill the Tuner's worker mid-trial, wait, check. `data` (a copy of
    the bundled penguins by default) and `also(run_id)`, called at every poll beside the
    killer (tests/airflow/test_production.py restarts PostgreSQL from it during Transform)."""
    before = celery_chaos.TunerKiller.searches_now(stack)
    versions_before = len(mlflow.versions(MODEL))
    conf = {**celery_chaos.CONF, "data": str(data or data_copy(work, f"kill-{i}"))}
    start = time.monotonic()
    status, run = airflow.trigger(DAG, conf)
    assert status == 200, run
    run_id = run["dag_run_id"]
    killer = celery_chaos.TunerKiller(stack, airflow, DAG, run_id, before)

    def poll() -> None:
        if also:
            also(run_id)
        killer.poll()

    state = airflow.wait(DAG, run_id, 3600, poll)
    out = celery_chaos.outcome(stack, airflow, DAG, run_id, killer, state)
    out.update(
        round=i,
        run_id=run_id,
        seconds=round(time.monotonic() - start, 1),
        killed=killer.killed,
        holder_gone=killer.holder_gone() if killer.killed else None,
        new_versions=len(mlflow.versions(MODEL)) - versions_before,
    )
    worker = killer.killed.get("worker")
    if worker:
        stack.start_service(worker)  # back for the next round
        time.sleep(20)
    problems = []
    if not killer.killed:
        problems.append("the Tuner was never caught mid-trial")
    if state != "success":
        problems.append(f"run state {state}")
    if out["tries"] and worker and out["tries"][-1][2] == worker:
        problems.append("the last try ran on the killed worker")
    if out["redone"]:
        problems.append(f"finished trials ran again: {out['redone']}")
    if out["trials"] != out["distinct_trials"] or out["trials"] != celery_chaos.CONF["max_trials"]:
        problems.append(f"{out['distinct_trials']} distinct of {out['trials']} trials")
    if out["new_versions"] != 1:
        problems.append(f"{out['new_versions']} versions registered")
    if killer.killed and not out["holder_gone"]:
        problems.append("the node's process outlived its executor")
    out["problems"] = problems
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--kill-rounds", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-production-", dir=REPO / ".local"))
    stack = Stack(
        work / "stack",
        values={"RETRAIN_SCHEDULE": "none", "AIRFLOW_HEARTBEAT_TIMEOUT_S": "30"},
        extra_env={
            "RETRAIN_SETTINGS": json.dumps({**SETTINGS, **celery_chaos.chaos.SETTINGS}),
            "RETRAIN_RETRIES": "4",
            "RETRAIN_RETRY_DELAY_S": "5",
        },
    )
    results: dict = {**stamp(), "pairs": [], "kill_rounds": []}
    try:
        started = time.monotonic()
        stack.start()
        results["stack_start_s"] = round(time.monotonic() - started, 1)
        password = secrets.token_urlsafe(16)
        admin = Airflow(stack.api, "admin", stack.secrets["AIRFLOW_ADMIN_PASSWORD"])
        admin.create_user("operator", password, "Op")
        airflow = Airflow(stack.api, "operator", password)
        airflow.unpause(DAG)
        mlflow = MLflow(stack.mlflow, "pipeline", stack.secrets["MLFLOW_PIPELINE_PASSWORD"])
        for i in range(args.pairs):
            conf = {"data": str(data_copy(work, f"pair-{i}-a"))}
            conf_b = {"data": str(data_copy(work, f"pair-{i}-b"))}
            order = [("make run", conf), ("profile", conf_b)]
            if i % 2:
                order.reverse()
            pair = [
                make_run(work, str(i), c) if side == "make run" else profile_run(airflow, c)
                for side, c in order
            ]
            results["pairs"].append(pair)
            print(json.dumps(pair), flush=True)
        for i in range(args.kill_rounds):
            out = kill_round(stack, airflow, mlflow, work, i)
            results["kill_rounds"].append(out)
            print(json.dumps(out), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=1))
        results["stack_restarts"] = stack.restarts
    finally:
        stack.stop()
        stack.postgres.remove()
        Path(args.out).write_text(json.dumps(results, indent=1))
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results["kill_rounds"] if r["problems"]]
    print(
        f"kill rounds: {len(results['kill_rounds']) - len(failed)} of "
        f"{len(results['kill_rounds'])} pass"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
