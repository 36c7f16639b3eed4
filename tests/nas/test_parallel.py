"""Parallel trials (KerasTuner's distributed mode): a chief and two workers, each in its own
process, share one search. Every runner trains trials, trial ids are unique, and the chief's
result holds every trial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_chief_and_two_workers_share_one_search(tmp_path):
    state, rendezvous, out = tmp_path / "state", tmp_path / "rendezvous", tmp_path / "out"
    job = [sys.executable, "-m", "tests.nas.parallel_job"]
    procs = [
        subprocess.Popen(
            [*job, "chief", str(state), str(rendezvous), str(out), "2"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [*job, "worker", str(state), str(rendezvous), str(out), str(i)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n=====\n".join(x[-3000:] for x in logs)

    chief = json.loads((out / "chief.json").read_text())
    rows = chief["rows"]
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 6, ids
    runners = {r["runner"] for r in rows}
    assert runners == {"runner-main", "runner-worker0", "runner-worker1"}, rows
    for i in range(2):
        assert json.loads((out / f"worker-{i}.json").read_text())["ran"] >= 1
    assert chief["weights"], "the best trial's weights are missing"
    assert "3 of 3 trial runners connected" in logs[0]
    assert (rendezvous / "done").exists()
