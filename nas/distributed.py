"""Parallel trials: KerasTuner's distributed mode, one oracle and several trial runners.

The search's own process (the chief, the Tuner node) holds the real oracle and serves it over
gRPC with KerasTuner's `OracleServicer`; it also runs trials itself, as a client of its own
server. Each worker (an Airflow mapped task) builds the same tuner as a client: KerasTuner
switches to its `OracleClient` when `KERASTUNER_ORACLE_IP/PORT` and a `KERASTUNER_TUNER_ID`
without "chief" in it are set. Trials are handed out one at a time by the one oracle, so trial
ids are unique; every runner writes into the same state directory, so the chief's leaderboard
holds every trial and the best weights are on disk wherever they were trained.

Rendezvous: the chief writes `chief.json` (its address, and what a worker needs to rebuild the
data) into a folder keyed by run and node, and `done` when the search is over. A worker that
finds `done`, or reaches the chief no more, stops asking for trials.
"""

from __future__ import annotations

import json
import os
import time

import keras_tuner

from nas import kt_private

CHIEF_FILE = "chief.json"
DONE_FILE = "done"
CHIEF_ID = "runner-main"  # "chief" in a tuner id would make KerasTuner only serve, not train
RPC_TIMEOUT_S = 300  # a worker gives up on a chief that stopped answering


def worker_id(index: int) -> str:
    """The KerasTuner tuner id of worker `index`."""
    return f"runner-worker{index}"


def set_client_env(host: str, port: int, tuner_id: str) -> None:
    """Make the next Tuner built in this process a gRPC client of the oracle at host:port."""
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id


def clear_client_env() -> None:
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        os.environ.pop(name, None)


# ---- rendezvous ---------------------------------------------------------------------------
def write_chief(folder: str, info: dict) -> None:
    """Announce the chief (its address and `info`) to the workers waiting in `folder`."""
    os.makedirs(folder, exist_ok=True)
    done = os.path.join(folder, DONE_FILE)
    if os.path.exists(done):
        os.remove(done)  # a retried chief starts a new search round
    tmp = os.path.join(folder, CHIEF_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, os.path.join(folder, CHIEF_FILE))


def mark_done(folder: str, reason: str = "") -> None:
    """Tell the workers of the rendezvous `folder` that the search is over."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, DONE_FILE), "w") as f:
        f.write(reason)


def is_done(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, DONE_FILE))


def wait_for_chief(folder: str, timeout_s: float, poll_s: float = 1.0) -> dict | None:
    """The chief's info once it is serving; None if the search is over (or never started
    because the Tuner node was cached) before this worker arrived."""
    deadline = time.monotonic() + timeout_s
    path = os.path.join(folder, CHIEF_FILE)
    while True:
        if is_done(folder):
            return None
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no NAS chief appeared in {folder} within {timeout_s:.0f} s: the Tuner task did "
                "not start. Parallel trials need a scheduler that runs tasks at the same time "
                "(`airflow dags test` and `make run` run one at a time) and a gpu pool of "
                "parallel_trials + 1 slots"
            )
        time.sleep(poll_s)


# ---- chief --------------------------------------------------------------------------------
def chief_host() -> tuple[str, str]:
    """(address to bind, address workers dial): loopback unless $RETRAIN_NAS_CHIEF_HOST names
    this host's address for workers on other hosts (per-step containers)."""
    host = os.environ.get("RETRAIN_NAS_CHIEF_HOST", "127.0.0.1")
    return ("0.0.0.0" if host not in ("127.0.0.1", "localhost") else host), host


def serve(oracle, host: str = "127.0.0.1", port: int = 0):
    """Serve `oracle` over gRPC; returns (server, bound port). Stop with server.stop(grace)."""
    return kt_private.serve_oracle(oracle, host, port)


def gang_start(oracle, runners: int, timeout_s: float, log=print) -> None:
    """Hold back the first trials until `runners` trial runners have asked (or `timeout_s` has
    passed), so one fast runner does not take the whole search before the others start."""
    create = oracle.create_trial
    seen: set[str] = set()
    opened = []
    deadline = time.monotonic() + timeout_s

    def create_trial(tuner_id):
        if not opened:
            seen.add(tuner_id)
            if len(seen) < runners and time.monotonic() < deadline:
                return kt_private.Trial(oracle.get_space(), status="IDLE")
            opened.append(True)
            log(f"NAS parallel trials: {len(seen)} of {runners} trial runners connected")
        return create(tuner_id)

    oracle.create_trial = create_trial


def wait_until_idle(oracle, timeout_s: float) -> None:
    """Wait until no trial is running anywhere and every runner that asked for trials has been
    told the search is over (KerasTuner drops a runner from `tuner_ids` then), so the chief
    does not remove the state directory under a worker."""

    def busy() -> bool:
        return bool(oracle.ongoing_trials) or bool(set(oracle.tuner_ids) - {CHIEF_ID})

    deadline = time.monotonic() + timeout_s
    while busy() and time.monotonic() < deadline:
        time.sleep(0.5)


# ---- worker -------------------------------------------------------------------------------
class _RemoteTrials:
    """`oracle.trials.get(trial_id)` on a worker (the trial runner reads a parent's values)."""

    def __init__(self, client):
        self.client = client

    def get(self, trial_id, default=None):
        try:
            return self.client.get_trial(trial_id)
        except Exception:  # unknown trial, or the chief is gone
            return default


class WorkerOracle:
    """A worker's view of the chief's oracle: KerasTuner's gRPC client, plus what the trial
    runner reads from its oracle. The chief enforces the search's budgets when it hands out
    trials, so a worker reports no time or compute left of its own."""

    def __init__(self, client, project_dir: str, rendezvous: str):
        kt_private.set_client_timeout(RPC_TIMEOUT_S)
        self._client = client
        self._project_dir = project_dir
        self._rendezvous = rendezvous
        self.trials = _RemoteTrials(client)
        self.compute_spent = 0
        self.stop_reason = ""

    def __getattr__(self, name):
        return getattr(self._client, name)

    @property
    def start_order(self) -> list[str]:
        names = [d for d in os.listdir(self._project_dir) if d.startswith("trial_")]
        return sorted((n[len("trial_") :] for n in names), key=lambda t: (len(t), t))

    def time_left(self):
        return None

    def compute_left(self):
        return None

    def best_score(self):
        best = self._client.get_best_trials(1)
        return best[0].score if best and best[0].score is not None else None

    def create_trial(self, tuner_id):
        while True:
            if is_done(self._rendezvous):
                return kt_private.Trial(keras_tuner.HyperParameters(), status="STOPPED")
            trial = self._client.create_trial(tuner_id)
            if trial.status != "IDLE":
                return trial
            time.sleep(0.5)
