"""kill -9 of the Celery worker that runs the Tuner, and of that worker's warm executor, in the
middle of a trial, on the production profile (stack/). Shared by
tests/airflow/test_production.py (one kill in `make test`) and bench/production/run.py (many
rounds, written down).

A lost host, as far as one machine can show it: the worker's whole process tree (the Celery
parent, its pool, the task supervisor and the task process) and its warm executors get SIGKILL
at once. The node's own process must follow by itself (it dies with its executor). The
scheduler then fails the task once its heartbeat is older than compose's
AIRFLOW_HEARTBEAT_TIMEOUT_S, and retries it; only the other worker is left to take it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import time
from pathlib import Path

from core import names, processes
from tests.airflow import chaos

WORKERS = {"worker-1", "worker-2"}
# Four trials, five epochs of 200 steps: the Tuner is long enough to be caught mid-trial.
CONF = {**chaos.CONF, "max_trials": 4}


class TunerKiller:
    """`poll()` (called while the run is polled) kills once: when the search has finished a
    trial and checkpointed the next. `killed` then holds what was killed and what was done."""

    def __init__(self, stack, airflow, dag_id: str, run_id: str, before: set[str]):
        self.stack, self.airflow, self.dag_id, self.run_id = stack, airflow, dag_id, run_id
        self.root = stack.root / "state" / "pipeline_root"
        self.before = before
        self.killed: dict = {}

    @staticmethod
    def searches_now(stack) -> set[str]:
        """The search folders that exist now (a run's own come after)."""
        return set(glob.glob(str(stack.root / "state" / "pipeline_root" / "_nas_state" / "*")))

    def poll(self) -> None:
        if self.killed:
            return
        found = [
            s
            for s in glob.glob(str(self.root / "_nas_state" / "*" / "Tuner" / "search"))
            if str(Path(s).parents[1]) not in self.before
        ]
        if not found:
            return
        search = Path(found[0])
        finished = {p.parent.name for p in search.glob("trial_*/result.json")}
        started = {p.parent.name for p in search.glob("trial_*/inflight.json")}
        if not finished or not (started - finished):
            return  # not yet: a trial done and the next one checkpointed
        tis = self.airflow.task_instances(self.dag_id, self.run_id)
        [tuner] = [t for t in tis if t["task_id"] == "Tuner"]
        if tuner["state"] != "running" or tuner["hostname"] not in WORKERS:
            return
        lock = self.root / "_locks" / names.run_folder(self.run_id) / "Tuner.lock"
        holder = chaos._holder(lock)
        worker = tuner["hostname"]
        executors = self.stack.executors(worker)
        tree = self.stack.kill(worker)
        for pid in executors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed = {
            "worker": worker,
            "finished": sorted(finished),
            "holder": holder,
            "executors": executors,
            "tree": len(tree),
            "at": time.time(),
        }

    def holder_gone(self, timeout_s: float = 30) -> bool:
        """Whether the node's own process (the lock's holder) ended by itself."""
        pid = self.killed.get("holder")
        return bool(pid) and processes.wait_gone([pid], timeout_s) == []


def task_log(stack, dag_id: str, run_id: str, task_id: str, attempt: int) -> str:
    """One attempt's task log as text (Airflow writes JSON lines)."""
    import json

    path = stack.root / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    path = path / f"task_id={task_id}" / f"attempt={attempt}.log"
    if not path.exists():
        return ""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(str(json.loads(line).get("event", "")))
        except ValueError:
            out.append(line)
    return "\n".join(out)


def outcome(stack, airflow, dag_id: str, run_id: str, killer: TunerKiller, state: str) -> dict:
    """What a kill round shows: the run's state, where each Tuner try ran, the finished trials
    run again after the kill, and the search's trials."""
    tries = airflow.tries(dag_id, run_id, "Tuner")
    later = "\n".join(task_log(stack, dag_id, run_id, "Tuner", t["try_number"]) for t in tries[1:])
    rows = chaos.leaderboard(later) if "NAS report:" in later else []
    return {
        "state": state,
        "tries": [(t["try_number"], t["state"], t["hostname"]) for t in tries],
        "redone": sorted(set(chaos.finished_lines(later)) & set(killer.killed.get("finished", []))),
        "trials": len(rows),
        "distinct_trials": len({r["trial_id"] for r in rows}),
        "retry_log": bool(later),
    }
