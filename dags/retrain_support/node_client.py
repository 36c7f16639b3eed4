"""Run one TFX pipeline node from an Airflow task, in the TFX environment.

Two ways, one command line (`python -m pipelines.run_node ...`):
- warm: hand the arguments to a warm executor (pipelines/warm_executor.py) over its Unix socket;
  it forks a child that already has TFX imported and streams the node's log back.
- process: start a fresh TFX-environment process for the node (pays the imports every time).
If the warm executor's socket is gone (it died, or a retry runs after teardown), the node runs in a
fresh process instead, so a retry never depends on the executor being alive.

Every node ends. A node runs in a process group of its own, with a time limit (`timeout_s`):
over it, the group is killed and the task fails with `timed out after N s` (retried, as a hang
may be transient). When the task itself ends early (Airflow's own timeout, a task marked failed,
`kill -9` of the worker), the node goes too: a fresh process dies with its parent
(core/processes.py), and a warm executor kills the node's group when its caller's connection
closes. Node processes start with a minimal environment (core/processes.node_env).

A failed node raises NodeFailed (Airflow retries the task) or, when the node runner's exit status
says a retry cannot help (core/failures.py: bad arguments, or a permanent failure such as bad
data or a broken user module), NodeFailedPermanently: Airflow's AirflowFailException, which
fails the task at once. Either way the message is the node's own one-line reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

# The failure classification is the repository's core/failures.py (standard library only), on
# sys.path by retrain_support/__init__.py.
from core import failures, processes, results, waiting
from retrain_support import mlflow_conn

EXIT_MARK = "\0EXIT "

log = logging.getLogger(__name__)


class NodeFailed(RuntimeError):
    """A pipeline node exited non-zero; the message is the node's own last error line.
    Airflow retries the task (when it has retries left)."""


class NodeFailedPermanently(NodeFailed, AirflowFailException):
    """A pipeline node failed in a way a retry cannot heal (core/failures.py): Airflow fails
    the task without retrying it."""


class NodeTimedOut(NodeFailed):
    """A node ran past its time limit; its process group was killed. Retried."""


def node_env() -> dict[str, str]:
    """A node process's environment: the allow-list (core/processes.py) and the MLflow
    credentials of the deployment's Connection (mlflow_conn.py)."""
    return {**processes.node_env(), **mlflow_conn.node_env()}


def socket_path(dag_id: str, run_id: str) -> str:
    """The run's executor socket, in a folder only this user can open (core/processes.py).
    Unix socket paths are limited to ~100 bytes, so it is named by a hash of the run."""
    digest = hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()[:16]
    return str(processes.private_dir() / f"{digest}.sock")


def node_argv(run_id: str, node: str, settings: dict) -> list[str]:
    return ["--run-id", run_id, "--node", node, "--settings", json.dumps(settings, sort_keys=True)]


def _request(
    path: str, payload: dict, on_line: Callable[[str], None], timeout_s: float | None = None
) -> int:
    """Sends one request; streams the lines back to `on_line`; the exit status. Past
    `timeout_s` it closes the connection (the executor then kills the node's process group)
    and raises TimeoutError. Any exception here closes it too."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall((json.dumps(payload) + "\n").encode())
        # The limit is enforced by closing the socket from a timer: a read timeout would
        # leave the buffered reader unusable.
        with _deadline(timeout_s, lambda: s.shutdown(socket.SHUT_RDWR)) as expired:
            try:
                with s.makefile("r", errors="replace") as lines:
                    for line in lines:
                        line = line.rstrip("\n")
                        if line.startswith(EXIT_MARK):
                            return int(line[len(EXIT_MARK) :])
                        on_line(line)
            except OSError:
                if not expired.is_set():
                    raise
    raise ConnectionError(f"warm executor at {path} closed the connection without an exit status")


def executor_alive(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        return _request(path, {"cmd": "ping"}, lambda _: None) == 0
    except OSError:
        return False


def start_executor(
    tfx_python: str, repo: Path, path: str, timeout_s: float = 900, idle_timeout_s: float = 0
) -> int:
    """Start a warm executor on `path` and wait until it answers; returns its pid.
    `idle_timeout_s`: it stops after that long with no node (0: its own default)."""
    if executor_alive(path):
        log.info("warm executor already running on %s", path)
        return -1
    Path(path).with_suffix(".started").touch()
    idle = ["--idle-timeout-s", str(idle_timeout_s)] if idle_timeout_s else []
    log_path = Path(path).with_suffix(".log")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [tfx_python, "-m", "pipelines.warm_executor", "--socket", path, *idle],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=node_env(),
            start_new_session=True,  # outlives this task; the teardown task stops it
        )

    def ready() -> bool:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(
                f"warm executor exited with {proc.returncode} before it was ready:\n"
                + "\n".join(tail)
            )
        return executor_alive(path)

    if waiting.wait_until(ready, timeout_s, quiet=True):
        log.info("warm executor pid %d ready on %s (log %s)", proc.pid, path, log_path)
        return proc.pid
    proc.kill()
    raise TimeoutError(f"warm executor was not ready after {timeout_s:.0f}s; see {log_path}")


# A warm executor started by a node task on a worker other than start_executor's stops itself
# after this long without a node (the teardown task stops only its own worker's).
LOCAL_IDLE_S = 600


def local_executor(tfx_python: str, repo: Path, dag_id: str, run_id: str) -> str:
    """This host's warm executor for the run: its socket, in this process's own private
    folder (each Celery worker has its own), started here if none ever was. One that was
    started and has died is not restarted: the node then runs in a fresh process (run_node).
    A failed start is logged and left to that fallback too."""
    path = socket_path(dag_id, run_id)
    if executor_alive(path):
        return path
    with open(Path(path).with_suffix(".startlock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one start per host, whichever task comes first
        if executor_alive(path) or Path(path).with_suffix(".started").exists():
            return path
        try:
            start_executor(tfx_python, repo, path, idle_timeout_s=LOCAL_IDLE_S)
        except (OSError, RuntimeError) as e:
            log.warning("could not start a warm executor on this host: %s", e)
    return path


def stop_executor(path: str) -> None:
    """Stops the executor on `path` (it ends any node still running) and removes its log."""
    log_path = Path(path).with_suffix(".log")
    if executor_alive(path):
        _request(path, {"cmd": "stop"}, log.info)
        waiting.wait_until(lambda: not executor_alive(path), 30, every_s=0.2, quiet=True)
        log.info("warm executor on %s stopped", path)
    else:
        log.info("no warm executor on %s", path)
    log_path.unlink(missing_ok=True)
    for suffix in (".started", ".startlock"):
        Path(path).with_suffix(suffix).unlink(missing_ok=True)


def run_node(
    tfx_python: str,
    repo: Path,
    argv: list[str],
    socket: str | None = None,
    on_line: Callable[[str], None] = print,
    timeout_s: float | None = None,
) -> dict:
    """Run the node runner with `argv`; stream its output to `on_line`; return its RESULT, or
    raise NodeFailed (retried), NodeFailedPermanently (not retried) with its one line, or
    NodeTimedOut past `timeout_s` seconds (its process group killed)."""
    last_error: list[str] = []
    reported: list[str] = []  # the runner's own `RETRAIN ERROR <kind>: <line>`
    in_traceback = [False]
    result: dict = {}

    def collect(line: str) -> None:
        on_line(line)
        text = line.strip()
        if (value := results.parse(line)) is not None:
            result.update(value)
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

    try:
        if socket and executor_alive(socket):
            status = _request(socket, {"argv": argv}, collect, timeout_s)
        else:
            if socket:
                log.warning("warm executor on %s is not running; using a fresh process", socket)
            status = _fresh(tfx_python, repo, argv, collect, timeout_s)
    except TimeoutError:
        raise NodeTimedOut(
            f"timed out after {timeout_s:.0f} s (its process group was killed)"
        ) from None
    if status != failures.EXIT_OK:
        why = (reported or last_error or ["see the log above"])[0]
        if failures.status_is_permanent(status):
            raise NodeFailedPermanently(f"exit status {status} (permanent, not retried): {why}")
        raise NodeFailed(f"exit status {status}: {why}")
    return result


def _fresh(
    tfx_python: str,
    repo: Path,
    argv: list[str],
    collect: Callable[[str], None],
    timeout_s: float | None,
) -> int:
    """The node runner in a fresh process leading its own group; its exit status. Past
    `timeout_s`, or when this call ends any other way before the node does, the group is
    killed. If this process dies, the kernel sends the node SIGTERM, which ends its group."""
    proc = subprocess.Popen(
        [tfx_python, "-m", "pipelines.run_node", *argv],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=node_env(),
        start_new_session=True,
        preexec_fn=processes.die_with_parent,
    )
    try:
        with _deadline(timeout_s, lambda: processes.kill_group(proc.pid)):
            assert proc.stdout is not None
            for line in proc.stdout:
                collect(line.rstrip("\n"))
            return proc.wait()
    finally:
        # Interrupted (Airflow's timeout, SIGTERM) or done: the group goes, and with it
        # whatever the node left running.
        processes.kill_group(proc.pid)
        proc.wait()


@contextlib.contextmanager
def _deadline(timeout_s: float | None, action: Callable[[], None]):
    """Runs `action` once `timeout_s` seconds have passed inside the block (None: never); the
    block then ends in TimeoutError. Yields the Event that says the deadline fired."""
    expired = threading.Event()

    def fire():
        expired.set()
        action()

    timer = threading.Timer(timeout_s, fire) if timeout_s else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        yield expired
    finally:
        if timer:
            timer.cancel()
    if expired.is_set():
        raise TimeoutError(timeout_s)


def run_module(
    tfx_python: str,
    repo: Path,
    module: str,
    argv: list[str],
    timeout_s: float = 600,
    extra_env: dict[str, str] | None = None,
) -> list[str]:
    """`python -m MODULE ARGV` in the TFX environment with the nodes' minimal environment and
    `extra_env` (a secret there is in that process's environment only) (the operations DAGs'
    tools: pipelines.rollback, pipelines.retention; check_params's pipelines.snapshot); its
    output lines, each logged. A non-zero exit raises AirflowFailException with its last
    line."""
    out = subprocess.run(
        [tfx_python, "-m", module, *argv],
        cwd=repo,
        env={**node_env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = (out.stdout + out.stderr).splitlines()
    for line in lines:
        log.info("%s", line)
    if out.returncode != 0:
        raise AirflowFailException(
            f"{module}: exit status {out.returncode}: {lines[-1] if lines else 'no output'}"
        )
    return lines
