"""Tiny-settings smoke runs of the benchmark scripts that run the DAG: bench/dag_vs_local_runner.py
(docs/benchmarks.md's DAG-against-LocalDagRunner figure; one run per side of the whole pipeline) and
bench/conformance/run.py (one corpus dataset), each on a one-trial, one-epoch search. The
benchmarks are run by hand (bench/RESULTS.md says how); these keep the scripts working
(dag_vs_local_runner was broken for a day unnoticed while nothing ran it). The chaos benchmark's
smoke run is tests/airflow/test_tuner_kill.py; bench/production's kill round is
tests/airflow/test_production.py's DAG run.

They live in this tree, not in tests/airflow, though both drive Airflow (its CLI, in its own
environment, as subprocesses): make test runs the two trees side by side, and the Airflow tree
is the longer one. In a clean clone's make test on 2026-12-01 these two took 427 s and 154 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.envs import AIRFLOW_PYTHON
from pipelines.settings import REPO

TINY = {
    "max_trials": 1,
    "epochs": 1,
    "explain": False,
    "edge_export": False,
    "data_profile": False,
}


def test_the_dag_against_local_runner_benchmark_times_both_sides(tmp_path):
    out = tmp_path / "dag_vs_local.json"
    cmd = [AIRFLOW_PYTHON, "bench/dag_vs_local_runner.py", "--runs", "1"]
    cmd += ["--settings", json.dumps(TINY), "--out", str(out)]
    # The script keeps each side's work folder (logs, stores) in a temporary folder of its own.
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    result = json.loads(out.read_text())
    assert result["settings"] == TINY
    local, dag = result["runs"]
    assert (local["side"], dag["side"]) == ("local", "dag")
    # The same pipeline on both sides: the same nodes, each with a recorded execution.
    assert set(local["nodes"]) == set(dag["nodes"])
    assert {"ExampleGen", "Transform", "Tuner", "Trainer", "Pusher"} <= set(local["nodes"])
    assert all(dag["nodes"][n] > 0 for n in ("ExampleGen", "Tuner", "Trainer")), dag["nodes"]
    # Each node's Airflow task is at least as long as the node's execution inside it.
    tasks = {t.lower(): s for t, s in dag["tasks"].items()}
    assert "trainer" in tasks and tasks["trainer"] >= dag["nodes"]["Trainer"] - 0.5, tasks
    assert "| median |" in done.stdout and "| Trainer |" in done.stdout


def test_the_conformance_run_registers_a_champion_that_serves_raw_rows(tmp_path):
    """bench/conformance/run.py on one corpus dataset (gzipped TFRecords of float features with
    a float label, a regression), one trial of one epoch: `make run DATA=<a folder outside the
    repository>` with no other setup, the registered @champion, its pyfunc on raw rows, and the
    report, all under tmp_path (the committed RESULTS.md is left alone)."""
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    cmd = [sys.executable, "bench/conformance/run.py", "--only", "sensors", "--force"]
    cmd += ["--epochs", "1", "--max-trials", "1", "--root", str(tmp_path / "root")]
    committed = (REPO / "bench" / "conformance" / "RESULTS.md").read_text()
    # The corpus data is written under --root, a temporary folder outside the repository, and
    # runs through `make run DATA=<folder>`, which trusts it: no allowed roots are set.
    assert REPO not in tmp_path.parents
    env = {k: v for k, v in os.environ.items() if k not in ("RETRAIN_ALLOWED_ROOTS",)}
    done = subprocess.run(
        [*cmd, "--report", str(report_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    row = json.loads((report_dir / "results.json").read_text())["sensors"]
    assert row["nodes_passed"] == 11 and row["blessed"] is True, row
    assert row["registered"]["aliases"] == ["challenger", "champion"], row
    assert row["pyfunc"]["rows"] == 200 and row["pyfunc"]["errors"] == [], row
    assert row["conf"]["epochs"] == 1 and row["conf"]["max_trials"] == 1
    assert row["conf"]["data"] == str(tmp_path / "root" / "data" / "sensors")
    assert row["log"].startswith(str(tmp_path / "root" / "state" / "sensors" / "logs" / "make-run"))
    assert "| `sensors` |" in (report_dir / "RESULTS.md").read_text()
    assert (REPO / "bench" / "conformance" / "RESULTS.md").read_text() == committed
