"""Two DAG runs on different data at the same time, under a real scheduler (LocalExecutor),
sharing one ML Metadata store (SQLite, WAL): both finish, and no log says "database is locked".

The data is not the repository's, and is shaped as users' data is (tests/foreign.py):
- `wine`: a CSV with an INTEGER class label (0/1/2) and column names with slashes, spaces, a
  dot, a leading digit and unicode;
- `signals`: a folder of gzipped TFRecords with an int64 label, a fixed-length float vector (a
  1-D signal of 40 values) and a dataset.json beside the data files,
both through the default (warm) executor. The wine run searches with parallel trials: its Tuner
(the chief) and two TunerWorker mapped tasks run at the same time (parallelism 6, a gpu pool of
4) and share one search; every worker runs trials and every trial id is unique. (`airflow dags
test` runs tasks one at a time, so it cannot run this.) Each lands in the registry under its
folder's name, and its @champion's pyfunc predicts raw rows of its data: the int label's
classes as ints, the signal as a list per cell.

The test starts its own Airflow (api-server for the task execution API, scheduler,
dag-processor) in a fresh AIRFLOW_HOME, triggers the two runs from the CLI and waits for them."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests import foreign
from tests.airflow.chaos import leaderboard
from tests.airflow.conftest import TFX_PYTHON, run_summary, running_airflow
from tests.airflow.conftest import airflow_cli as _airflow
from tests.commands import last_json

CONF = {"max_trials": 1, "epochs": 3, "strategy": "random", "mode": "full"}
# Per run: the wine label is a Param; the signals folder's dataset.json names its label.
RUNS = {
    "wine": {"label": "target", "parallel_trials": 2, "max_trials": 4},
    # One seeded random trial of 3 epochs: this test is about the data getting through, not
    # about the search's quality (the gate's default bar is the trivial baseline).
    "signals": {},
}
# Operator settings: at most 60 steps an epoch; no explanations or TFLite files.
# The chief waits for its workers longer than by default: two runs share these 2 cores.
SETTINGS = {
    "steps_per_epoch": 60,
    "explain": False,
    "edge_export": False,
    "data_profile": False,
    "worker_wait_s": 600,
}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    with running_airflow(
        home, gpu_slots=4, RETRAIN_MAX_ACTIVE_RUNS="2", RETRAIN_SETTINGS=json.dumps(SETTINGS)
    ) as (env, _):
        yield env, home


def _runs(env) -> dict[str, dict]:
    out = _airflow(env, "dags", "list-runs", "retrain", "--output", "json", timeout=120)
    rows = [ln for ln in out.splitlines() if ln.startswith("[")]  # warnings share stdout
    return {r["run_id"]: r for r in json.loads(rows[-1] if rows else "[]")}


def test_two_runs_on_different_data_share_one_metadata_store(airflow, tmp_path):
    env, home = airflow
    foreign.wine_like_csv(tmp_path / "wine")
    foreign.signals_tfrecords(tmp_path / "signals", rows=600, aligned=True)
    assert (tmp_path / "signals" / "dataset.json").exists()
    _airflow(env, "dags", "unpause", "retrain")
    _airflow(env, "dags", "unpause", "deploy_new_model")  # the downstream DAG (its Asset)
    for name, extra in RUNS.items():
        conf = {**CONF, **extra, "data": str(tmp_path / name)}
        _airflow(
            env, "dags", "trigger", "retrain", "--run-id", f"run-{name}", "-c", json.dumps(conf)
        )

    deadline = time.time() + 2400
    while time.time() < deadline:
        runs = _runs(env)
        states = {r: runs[r]["state"] for r in ("run-wine", "run-signals") if r in runs}
        if len(states) == 2 and all(s in ("success", "failed") for s in states.values()):
            break
        time.sleep(15)
    texts = {
        p.relative_to(home).as_posix(): p.read_text(errors="replace")
        for p in home.rglob("*.log")
        if p.is_file()
    }
    logs = "\n".join(texts.values())
    assert states == {"run-wine": "success", "run-signals": "success"}, (states, logs[-6000:])
    a, b = (runs[r] for r in ("run-wine", "run-signals"))
    start = max(datetime.fromisoformat(a["start_date"]), datetime.fromisoformat(b["start_date"]))
    end = min(datetime.fromisoformat(a["end_date"]), datetime.fromisoformat(b["end_date"]))
    assert start < end, f"the runs did not overlap: {a} {b}"
    assert "database is locked" not in logs
    assert "RETRAIN RETRY" not in logs and "RETRAIN FAILED" not in logs

    # The wine run's parallel search: the chief saw both workers, each ran trials, no trial twice.
    task_logs = {p: t for p, t in texts.items() if "run_id=run-wine" in p}
    tuner = "\n".join(t for p, t in task_logs.items() if "task_id=Tuner/" in p)
    workers = {p: t for p, t in task_logs.items() if "task_id=TunerWorker/" in p}
    assert len(workers) == 2, sorted(task_logs)
    assert "3 of 3 trial runners connected" in tuner, tuner[-3000:]
    rows = leaderboard(tuner)
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == RUNS["wine"]["max_trials"], ids
    assert {"runner-worker0", "runner-worker1"} <= {r["runner"] for r in rows}, rows
    for text in workers.values():
        assert "NAS worker" in text and "ran 0 trial" not in text, text[-3000:]

    # Each registered version updated the model Asset, and the downstream DAG scheduled on it
    # ran with the Asset's extra: the model, its version and where it is.
    deadline = time.time() + 300
    told: set[str] = set()
    while time.time() < deadline and len(told) < 2:
        for p in home.rglob("*.log"):
            if "dag_id=deploy_new_model" in p.as_posix():
                told |= {
                    ln.split("NEW MODEL VERSION: ")[1].split(", from")[0]
                    for ln in p.read_text(errors="replace").splitlines()
                    if "NEW MODEL VERSION: " in ln
                }
        time.sleep(5)
    assert told == {
        "wine version 1 (models:/wine/1)",
        "signals version 1 (models:/signals/1)",
    }, told

    # Both went through the warm executor: its forked children, not fresh processes.
    assert "not forking the node" not in logs
    for run_id in ("run-wine", "run-signals"):
        nodes = run_summary(run_id, home / "state" / "metadata.sqlite")["nodes"]
        assert nodes["Pusher"]["state"] == "COMPLETE", nodes

    # Each model is registered under its folder's name, and its champion's pyfunc predicts raw
    # rows of its own data: classes with the label's own values and type.
    tracking = f"sqlite:///{home / 'state' / 'mlflow.db'}"
    for name, label, bar in (("wine", "target", 0.9), ("signals", "label", 0.5)):
        got = last_json(
            [
                TFX_PYTHON,
                "-m",
                "tests.pipeline.check_pyfunc",
                "--tracking-uri",
                tracking,
                "--name",
                name,
                "--data",
                str(tmp_path / name),
                "--label",
                label,
                "--rows",
                "60",
            ],
            timeout=600,
        )
        assert str(got["version"]) == "1", got
        assert got["versions"] == ["1"], got  # registered once, the parallel search's too
        assert len(set(got["truth"])) == 3, got["truth"]  # rows of every class
        assert all(type(c) is int for c in got["pyfunc"]), got["pyfunc"][:5]
        assert got["pyfunc"] == got["savedmodel"], got
        right = sum(p == t for p, t in zip(got["pyfunc"], got["truth"], strict=True))
        assert right / len(got["truth"]) >= bar, (name, right, got)
    assert got["tensor_columns"] == {"signal": [40]}, got["tensor_columns"]
