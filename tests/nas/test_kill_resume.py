"""kill -9 a search mid-trial, restart it: no finished trial runs again, the interrupted trial
continues from its last epoch, and the outcome matches an uninterrupted run."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

from pipelines.settings import REPO

JOB = [sys.executable, "-m", "tests.nas.search_job"]


def run(state, out):
    return subprocess.run(
        [*JOB, str(state), str(out)], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def result(out):
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


def test_kill_mid_trial_then_resume(tmp_path):
    whole = run(tmp_path / "whole", tmp_path / "whole_out")
    assert whole.returncode == 0, whole.stderr[-3000:]

    state = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log_file:
        proc = subprocess.Popen(
            [*JOB, str(state), str(tmp_path / "unused")],
            cwd=REPO,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    search = state / "search"
    deadline = time.time() + 300
    killed_in = None
    while time.time() < deadline and proc.poll() is None:
        finished = glob.glob(str(search / "trial_*" / "result.json"))
        inflight = glob.glob(str(search / "trial_*" / "inflight.json"))
        if finished and inflight:
            time.sleep(0.3)  # into the next epoch
            proc.send_signal(signal.SIGKILL)
            killed_in = os.path.basename(os.path.dirname(inflight[0]))
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_in, "the search finished before it could be killed mid-trial"
    assert proc.returncode == -signal.SIGKILL
    before = {p: os.path.getmtime(p) for p in glob.glob(str(search / "trial_*" / "result.json"))}
    with open(search / killed_in / "inflight.json") as f:
        epochs_done = json.load(f)["epoch"]
    assert epochs_done >= 1

    again = run(state, tmp_path / "resumed_out")
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout
    assert "NAS search resumes" in log
    for path, mtime in before.items():
        trial_id = os.path.basename(os.path.dirname(path)).removeprefix("trial_")
        assert os.path.getmtime(path) == mtime, f"finished trial {trial_id} ran again"
        assert f"NAS trial {trial_id} (" not in log, f"finished trial {trial_id} ran again"

    resumed = result(tmp_path / "resumed_out")
    row = next(r for r in resumed["rows"] if f"trial_{r['trial_id']}" == killed_in)
    assert row["start"].startswith(f"resumed at epoch {epochs_done}"), row["start"]
    with open(search / "leaderboard.jsonl") as f:
        ids = [json.loads(line)["trial_id"] for line in f if line.strip()]
    assert len(ids) == len(set(ids)) == 4

    reference = result(tmp_path / "whole_out")
    assert resumed["architecture"] == reference["architecture"]
    assert abs(resumed["score"] - reference["score"]) <= 0.01
