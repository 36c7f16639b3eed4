"""kill -9 the process that runs the Tuner node while Airflow runs the DAG, and let Airflow retry.

Shared by tests/airflow/test_tuner_kill.py (a few kills, in `make test`) and
bench/chaos_tuner_kill.py (many rounds, results written down).

The node's process is found through its lock file (pipelines/run_node.py: node_lock), which
names the pid that holds the node; in warm-executor mode that is the child the executor forked
for the node, exactly what an OOM kill or a node crash would take down. Kinds of kill:

- mid-trial: once the attempt has finished a trial, right after the next trial's first
  checkpoint (inflight.json rewritten), so the kills spread over the trials and every retry has
  finished trials that it must not run again;
- mid-epoch: half an epoch after a checkpoint, so the interrupted epoch's work is lost.

Each kill waits for progress made by the new attempt, so every retry resumes, works, and dies.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from core import processes
from tests.airflow.conftest import AIRFLOW, FINISHED

# max_trials and epochs leave room for the kills; steps_per_epoch makes an epoch long enough
# (1 to 2 s on a 2-core machine) for a kill to land inside it.
# mode full: the uninterrupted reference run comes second in the same store and must search
# the same way, not warm-start from the first run's champion (the DAG's default mode).
CONF = {
    "max_trials": 6,
    "epochs": 5,
    "strategy": "random",
    "curve_stop": False,
    "seed": 7,
    "mode": "full",
}
SETTINGS = {"steps_per_epoch": 200}


def _holder(lock: Path) -> int | None:
    try:
        m = re.match(r"pid (\d+) ", lock.read_text())
    except FileNotFoundError:
        return None
    return int(m.group(1)) if m else None


def _inflight(search: Path) -> dict[str, tuple[float, int]]:
    """Unfinished trial -> (mtime of inflight.json, epochs checkpointed)."""
    out = {}
    for path in glob.glob(str(search / "trial_*" / "inflight.json")):
        trial = Path(path).parent
        if (trial / "result.json").exists():
            continue
        try:
            out[trial.name] = (os.path.getmtime(path), json.loads(Path(path).read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            continue  # being rewritten
    return out


class Run:
    """One `airflow dags test retrain` in its own process, its output collected as it comes."""

    def __init__(self, conf: dict, state_dir: Path, retries: int, log_path: Path):
        env = dict(
            os.environ,
            RETRAIN_STATE_DIR=str(state_dir),
            RETRAIN_RETRIES=str(retries),
            RETRAIN_RETRY_DELAY_S="1",
            RETRAIN_SETTINGS=json.dumps(SETTINGS),
            PYTHONUNBUFFERED="1",
        )
        self.log_path = log_path
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [AIRFLOW, "dags", "test", "retrain", "-c", json.dumps(conf)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.log_path, "w") as out:
            for line in self.proc.stdout:
                self.lines.append(line)
                out.write(line)

    def finish(self, timeout: float) -> tuple[str, str, str]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.reader.join(timeout=30)
        log = "".join(self.lines)
        found = FINISHED.findall(log)
        run_id, state = found[-1] if found else ("", "unfinished")
        return run_id, state, log


def run_with_kills(
    state_dir: Path, kinds: list[str], log_path: Path, timeout: float = 1500, conf=None, skips=()
):
    """Runs the DAG and kills its Tuner node once per entry of `kinds`, the i-th kill after
    letting `skips[i]` chances go by (0 when absent), so rounds hit different places. Returns
    (run_id, state, log, kills), each kill a dict: kind, pid, trial, epoch."""
    root = state_dir / "pipeline_root"
    before = set(glob.glob(str(root / "_nas_state" / "*"))) | set(
        glob.glob(str(root / "_locks" / "*"))
    )
    run = Run(conf or CONF, state_dir, retries=len(kinds) + 1, log_path=log_path)
    kills = []
    deadline = time.time() + timeout
    killed: set[int] = set()
    try:
        for i, kind in enumerate(kinds):
            skip = skips[i] if i < len(skips) else 0
            kill = _one_kill(root, kind, killed, before, deadline, run, skip)
            if kill is None:
                break
            kills.append(kill)
            killed.add(kill["pid"])
    finally:
        run_id, state, log = run.finish(max(60.0, deadline - time.time()))
    return run_id, state, log, kills


def _new(pattern: str, before: set[str], depth: int) -> list[str]:
    """Paths matching `pattern` whose ancestor `depth` levels up did not exist `before`."""
    return [p for p in glob.glob(pattern) if str(Path(p).parents[depth]) not in before]


def _one_kill(
    root: Path, kind: str, killed: set[int], before: set[str], deadline: float, run, skip=0
):
    pid = None
    seen: dict = {}  # trial -> (mtime, epoch) as last seen
    updated: set[str] = set()  # trials seen checkpointing during this attempt
    while time.time() < deadline and run.proc.poll() is None:
        locks = _new(str(root / "_locks" / "*" / "Tuner.lock"), before, 0)
        searches = _new(str(root / "_nas_state" / "*" / "Tuner" / "search"), before, 1)
        holder = _holder(Path(locks[0])) if locks else None
        if holder is None or holder in killed or not processes.alive(holder) or not searches:
            time.sleep(0.05)
            continue
        search = Path(searches[0])
        if pid != holder:  # a new attempt: progress counts from now
            pid, seen, updated = holder, _inflight(search), set()
            finished = len(glob.glob(str(search / "trial_*" / "result.json")))
            continue
        now = _inflight(search)
        moved = [(t, v) for t, v in now.items() if seen.get(t, (0.0, 0))[0] < v[0]]
        if not moved:
            time.sleep(0.02)
            continue
        trial, (mtime, epoch) = moved[0]
        if trial in updated and seen[trial][1] < epoch:  # two checkpoints of this attempt
            EPOCH_S.append((mtime - seen[trial][0]) / (epoch - seen[trial][1]))
        updated.add(trial)
        seen = now
        if kind == "mid-epoch":
            if not EPOCH_S:
                continue  # wait until an epoch has been timed
            time.sleep(sorted(EPOCH_S[-5:])[len(EPOCH_S[-5:]) // 2] / 2)
            if _inflight(search).get(trial, (0.0, 0))[0] != mtime:
                seen = _inflight(search)  # the epoch ended meanwhile: try the next one
                continue
        elif kind == "mid-trial":
            if len(glob.glob(str(search / "trial_*" / "result.json"))) <= finished:
                continue  # no trial finished in this attempt yet
        else:
            raise ValueError(f"unknown kill kind {kind!r}")
        if skip > 0:
            skip -= 1
            continue
        os.kill(holder, signal.SIGKILL)
        return {"kind": kind, "pid": holder, "trial": trial, "epoch": epoch}
    return None


# Epoch durations seen so far (seconds): a mid-epoch kill waits half the median.
EPOCH_S: list[float] = []


def leaderboard(log: str) -> list[dict]:
    """The search's leaderboard, from the search_results artifact the log names (the search's
    state folder is removed once the search succeeds)."""
    [report] = re.findall(r"NAS report: (\S+)", log)[-1:]
    with open(Path(report).parent / "leaderboard.json") as f:
        return json.load(f)


def finished_lines(log: str) -> dict[str, int]:
    """Trial id -> how many times the log reports it finished."""
    counts: dict[str, int] = {}
    for trial in re.findall(r"NAS trial (\S+) \(\d+/\d+\)", log):
        counts[trial] = counts.get(trial, 0) + 1
    return counts
