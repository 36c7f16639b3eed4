"""Run one TFX pipeline node from an Airflow task, in the TFX environment.

Two ways, one command line (`python -m pipelines.run_node ...`):
- warm: hand the arguments to a warm executor (pipelines/warm_executor.py) over its Unix socket;
  it forks a child that already has TFX imported and streams the node's log back.
- process: start a fresh TFX-environment process for the node (pays the imports every time).
If the warm executor's socket is gone (it died, or a retry runs after teardown), the node runs in a
fresh process instead, so a retry never depends on the executor being alive.

A failed node raises NodeFailed (Airflow retries the task) or, when the node runner's exit status
says a retry cannot help (core/failures.py: bad arguments, or a permanent failure such as bad
data or a broken user module), NodeFailedPermanently: Airflow's AirflowFailException, which
fails the task at once. Either way the message is the node's own one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

# The failure classification is the repository's core/failures.py (standard library only).
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.append(_REPO)
from core import failures  # noqa: E402

EXIT_MARK = "\0EXIT "

log = logging.getLogger(__name__)


class NodeFailed(RuntimeError):
    """A pipeline node exited non-zero; the message is the node's own last error line.
    Airflow retries the task (when it has retries left)."""


class NodeFailedPermanently(NodeFailed, AirflowFailException):
    """A pipeline node failed in a way a retry cannot heal (core/failures.py): Airflow fails
    the task without retrying it."""


def socket_path(dag_id: str, run_id: str) -> str:
    # Unix socket paths are limited to ~100 bytes, so name it by a hash of the run.
    digest = hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"retrain-{digest}.sock")


def node_argv(run_id: str, node: str, settings: dict) -> list[str]:
    return ["--run-id", run_id, "--node", node, "--settings", json.dumps(settings, sort_keys=True)]


def _request(path: str, payload: dict, on_line: Callable[[str], None]) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall((json.dumps(payload) + "\n").encode())
        with s.makefile("r", errors="replace") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if line.startswith(EXIT_MARK):
                    return int(line[len(EXIT_MARK) :])
                on_line(line)
    raise ConnectionError(f"warm executor at {path} closed the connection without an exit status")


def executor_alive(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        return _request(path, {"cmd": "ping"}, lambda _: None) == 0
    except OSError:
        return False


def start_executor(tfx_python: str, repo: Path, path: str, timeout_s: float = 900) -> int:
    """Start a warm executor on `path` and wait until it answers; returns its pid."""
    if executor_alive(path):
        log.info("warm executor already running on %s", path)
        return -1
    log_path = Path(path).with_suffix(".log")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [tfx_python, "-m", "pipelines.warm_executor", "--socket", path],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this task; the teardown task stops it
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(
                f"warm executor exited with {proc.returncode} before it was ready:\n"
                + "\n".join(tail)
            )
        if executor_alive(path):
            log.info("warm executor pid %d ready on %s (log %s)", proc.pid, path, log_path)
            return proc.pid
        time.sleep(1)
    proc.kill()
    raise TimeoutError(f"warm executor was not ready after {timeout_s:.0f}s; see {log_path}")


def stop_executor(path: str) -> None:
    if not executor_alive(path):
        log.info("no warm executor on %s", path)
        return
    _request(path, {"cmd": "stop"}, log.info)
    deadline = time.monotonic() + 30
    while executor_alive(path) and time.monotonic() < deadline:
        time.sleep(0.2)
    log.info("warm executor on %s stopped", path)


def run_node(
    tfx_python: str,
    repo: Path,
    argv: list[str],
    socket: str | None = None,
    on_line: Callable[[str], None] = print,
) -> dict:
    """Run the node runner with `argv`; stream its output to `on_line`; return its RESULT, or
    raise NodeFailed (retried) or NodeFailedPermanently (not retried) with its one line."""
    last_error: list[str] = []
    reported: list[str] = []  # the runner's own `RETRAIN ERROR <kind>: <line>`
    in_traceback = [False]
    result: dict = {}

    def collect(line: str) -> None:
        on_line(line)
        text = line.strip()
        if line.startswith("RESULT "):
            result.update(json.loads(line[len("RESULT ") :]))
        elif text.startswith(failures.MARK):
            reported[:] = [text[len(failures.MARK) :].partition(": ")[2] or text]
        elif text.startswith("Traceback"):
            in_traceback[0] = True
            last_error[:] = [text]
        elif in_traceback[0] and text and not line[:1].isspace():
            # The first unindented line after the frames: "SomeError: what went wrong".
            in_traceback[0] = False
            last_error[:] = [text]
        elif text.lower().startswith("error") or "Error:" in line:
            last_error[:] = [text]

    if socket and executor_alive(socket):
        status = _request(socket, {"argv": argv}, collect)
    else:
        if socket:
            log.warning("warm executor on %s is not running; using a fresh process", socket)
        proc = subprocess.Popen(
            [tfx_python, "-m", "pipelines.run_node", *argv],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            collect(line.rstrip("\n"))
        status = proc.wait()
    if status != failures.EXIT_OK:
        why = (reported or last_error or ["see the log above"])[0]
        if failures.status_is_permanent(status):
            raise NodeFailedPermanently(f"exit status {status} (permanent, not retried): {why}")
        raise NodeFailed(f"exit status {status}: {why}")
    return result
