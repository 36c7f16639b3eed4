"""Process hygiene shared by the Airflow side (dags/retrain_support/node_client.py) and the TFX
side (pipelines/run_node.py, pipelines/warm_executor.py): every node runs in a process group of
its own, so one `killpg` ends it with everything it started; a node whose caller dies goes with
it; the executor's socket and logs live in a folder only their owner can open; and a node
process sees only the environment it needs.

Which processes run, below which, with which command line: psutil, the one reader of /proc
here (and `thread_names`, which psutil does not give). What psutil lacks stays by hand: the
parent-death signal (`prctl` through libc, Linux) and `killpg`. Standard library and psutil
only (the Airflow DAG imports it; psutil is in both environments).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from core import waiting

_PR_SET_PDEATHSIG = 1
try:  # loaded before any fork: a preexec function must not load libraries
    _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
except OSError:  # not Linux
    _LIBC = None

# What a node process inherits from its caller (an Airflow worker holds its own database URL,
# Fernet key and Connections in its environment; a node needs none of them). Names, then
# prefixes. Secrets a node does need: ML Metadata's password and MLflow's credentials.
NODE_ENV_NAMES = frozenset(
    "PATH HOME USER LOGNAME LANG LANGUAGE TZ TMPDIR PYTHONPATH PYTHONHASHSEED PYTHONUNBUFFERED "
    "VIRTUAL_ENV HOSTNAME MLFLOW_TRACKING_URI MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD "
    "MLFLOW_TRACKING_TOKEN MLFLOW_TRACKING_INSECURE_TLS MLFLOW_TRACKING_SERVER_CERT_PATH "
    "MLFLOW_REGISTRY_URI MLFLOW_HTTP_REQUEST_MAX_RETRIES MLFLOW_HTTP_REQUEST_TIMEOUT "
    "KERAS_BACKEND KERAS_HOME NVIDIA_VISIBLE_DEVICES LD_LIBRARY_PATH "
    "SSL_CERT_FILE REQUESTS_CA_BUNDLE "
    "HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy".split()
)
NODE_ENV_PREFIXES = ("RETRAIN_", "LC_", "CUDA_", "TF_", "XLA_", "OMP_", "GOOGLE_", "AWS_")


def node_env(environ: dict | None = None) -> dict[str, str]:
    """The environment a node process (or the warm executor) starts with: the names and
    prefixes above, nothing else. Anything an operator adds for the nodes goes under RETRAIN_."""
    environ = os.environ if environ is None else environ
    return {
        k: v for k, v in environ.items() if k in NODE_ENV_NAMES or k.startswith(NODE_ENV_PREFIXES)
    }


def private_dir(name: str = "retrain") -> Path:
    """`<tmp>/<name>-<uid>`, mode 0700: where the warm executors' sockets and logs live. Refuses
    a folder another user owns or others may open (someone could have made it first)."""
    path = Path(tempfile.gettempdir()) / f"{name}-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder of user {os.getuid()}; remove it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours, made with a loose umask: close it
    return path


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child before exec (a `preexec_fn`): the kernel sends `sig` to this process when the
    thread that started it ends, `kill -9` included. With `end_group_on_sigterm` in the child,
    its whole group goes too."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def end_group_on_sigterm() -> None:
    """SIGTERM ends this process's whole group (the node and whatever it started), not only
    this process. For a node process that leads its own group."""

    def _end(*_):
        sys.stdout.flush()
        os.killpg(os.getpgid(0), signal.SIGKILL)

    signal.signal(signal.SIGTERM, _end)


def kill_group(pgid: int) -> bool:
    """SIGKILL to process group `pgid`; False when there was none."""
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not reaped, does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # there, and not ours to look at
        return True


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (none when `pid` is gone)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def matching(match) -> dict[int, int]:
    """{pid: parent pid} of the processes whose command line (a list of str) `match` accepts."""
    found = {}
    for p in psutil.process_iter(["pid", "ppid", "cmdline"]):
        if p.info["cmdline"] and match(p.info["cmdline"]):
            found[p.info["pid"]] = p.info["ppid"]
    return found


def environment(pid: int) -> dict[str, str]:
    """The environment process `pid` started with."""
    return psutil.Process(pid).environ()


def thread_names() -> list[str]:
    """The names of this process's threads as Linux shows them (psutil gives thread ids, not
    names; gRPC names its threads, which the warm executor's fork check looks for); [] where
    there is no /proc."""
    names = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # not Linux
        return names
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # the thread just ended
            pass
    return names


def wait_gone(pids, timeout_s: float = 10) -> list[int]:
    """Waits up to `timeout_s` for `pids` to end; those still alive then."""
    left = [p for p in pids if alive(p)]

    def gone() -> bool:
        left[:] = [p for p in left if alive(p)]
        return not left

    waiting.wait_until(gone, timeout_s, every_s=0.1, quiet=True)
    return left


def hang_for_test(node: str) -> None:
    """The test-only hook: when $RETRAIN_TEST_HANG_NODE names `node`, the node starts a
    sleeping child of its own and sleeps, printing `RETRAIN TEST HANG pid P sleeper S`. Tests
    check that a timeout, a lost caller or a stopped executor ends both."""
    if not node or os.environ.get("RETRAIN_TEST_HANG_NODE") != node:
        return
    sleeper = subprocess.Popen(["sleep", "3600"])
    print(f"RETRAIN TEST HANG pid {os.getpid()} sleeper {sleeper.pid}", flush=True)
    time.sleep(3600)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
