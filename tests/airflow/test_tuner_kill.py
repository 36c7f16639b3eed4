"""kill -9 the Tuner node's process three times in one DAG run (mid-trial and mid-epoch, in
turn), with Airflow retrying the task each time: the search resumes, no finished trial runs
again, and the result matches an uninterrupted run with the same seed.

This is one round of the chaos benchmark, bench/chaos/tuner_kill.py (so `make test` also keeps
the script working): an uninterrupted reference run, then the killed run on the same state
folder and seed. The node runs in the warm executor's forked child, whose pid its lock file
names (tests/airflow/chaos.py). The script checks each round: every kill landed and was retried
once, no RETRAIN FAILED, every trial finished exactly once and is listed once, at least one
resumed from its checkpoint, the architectures equal the reference's and the best score is
within its stated noise of the reference's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.airflow.conftest import REPO

KINDS = ["mid-trial", "mid-epoch", "mid-trial"]
# Four trials leave room for three kills (the benchmark runs chaos.CONF's six, many rounds,
# letting chances go by); fewer kills and trials keep make test within its time.
MAX_TRIALS = 4


def test_tuner_killed_three_times_resumes_and_matches_an_uninterrupted_run(tmp_path):
    out = tmp_path / "chaos.json"
    cmd = [sys.executable, "bench/chaos/tuner_kill.py", "--rounds", "1"]
    cmd += ["--kinds", ",".join(KINDS), "--max-trials", str(MAX_TRIALS), "--max-skips", "0"]
    env = dict(os.environ, TMPDIR=str(tmp_path))  # its Airflow home and run folders
    done = subprocess.run(
        [*cmd, "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=2400
    )
    print(done.stdout[-3000:])
    summary = json.loads(out.read_text())
    [round_] = summary["results"]
    assert [k["kind"] for k in round_["kills"]] == KINDS, (round_, done.stderr[-3000:])
    assert round_["state"] == "success", round_
    assert round_["problems"] == [], round_
    assert round_["score_diff"] <= summary["noise"] == 0.05
    assert summary["conf"]["max_trials"] == MAX_TRIALS
    assert summary["ok"] == summary["rounds"] == 1 and done.returncode == 0
