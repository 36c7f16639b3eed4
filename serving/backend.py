"""One registered version served by MLflow's own scoring server.

    python -m serving.model_server --model-uri models:/NAME/VERSION --host 127.0.0.1 --port PORT

(model_server.py: the app `mlflow models serve --env-manager local` serves, in one Python
instead of the MLflow CLI's then uvicorn's) run with the TFX environment's interpreter
(core/envs.py), so the pyfunc's TensorFlow is there, on a free loopback port, in a process group
of its own: in a spare Python whose imports are done (warm.py; `Spares` below) where one
waits. It answers /invocations with raw rows (dataframe_split / dataframe_records JSON) as the
pyfunc does, and /ping once the model loaded.

Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from core import envs
from serving.warm import READY_LINE


class BackendError(RuntimeError):
    """A model server that did not come up; the message is one line naming the version."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_args(backend: Backend) -> list[str]:
    """serving.model_server's arguments for the backend's version (its `uri`) and port."""
    return ["--model-uri", backend.uri, "--host", "127.0.0.1", "--port", str(backend.port)]


def fetch(model: str, version: str, root: Path) -> Path:
    """The artifacts of `model` `version`, downloaded once into ROOT/MODEL/VERSION (whole, or
    not there), for the version's model server and its smoke test both: on MLflow's basic-auth
    server every request is a password check (seconds on a loaded machine), and a version of
    this product is a hundred files and more."""
    folder = Path(root) / model / str(version)
    if (folder / "MLmodel").exists():
        return folder
    import mlflow

    part = folder.parent / f".{version}.part-{time.time_ns()}"
    part.mkdir(parents=True)
    try:
        got = mlflow.artifacts.download_artifacts(f"models:/{model}/{version}", dst_path=str(part))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(got, folder)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return folder


class Backend:
    """A model server for `model` version `version` (loaded from `uri`: its artifacts, by
    default from the registry), its log under `log_dir`. `in_flight` counts the requests the
    front has forwarded to it and not yet answered."""

    def __init__(self, model: str, version: str, log_dir: Path, port: int = 0, uri: str = ""):
        self.model, self.version = model, str(version)
        self.uri = uri or f"models:/{model}/{self.version}"  # what it loads
        self.port = port or free_port()
        self.log = Path(log_dir) / f"model-{model}-{self.version}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.ready = False  # it answered /ping once
        self.started_at = 0.0  # time.monotonic() of its start
        self.in_flight = 0
        self.idle = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> dict:
        return {
            **{"model": self.model, "version": self.version, "url": self.url},
            **{"alive": self.alive, "ready": self.ready},
        }

    def start(self, spares: Spares | None = None) -> Backend:
        """Starts it: in one of `spares` if one waits, else in a fresh Python."""
        self.started_at = time.monotonic()
        spares = spares or Spares(0, self.log.parent)
        self.proc = spares.run("serving.model_server", serve_args(self), self.log)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pings(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float) -> Backend:
        """Returns once /ping answers 200 (at once if it did before); a BackendError if the
        server exits or `timeout_s` (from its start) passes."""
        deadline = self.started_at + timeout_s
        while time.monotonic() < deadline:
            if self.ready or self.pings():
                self.ready = True
                return self
            if self.proc is None or self.proc.poll() is not None:
                raise BackendError(
                    f"the model server of {self.model} version {self.version} exited "
                    f"({self.last_error()}); its log: {self.log}"
                )
            time.sleep(0.25)
        self.stop()
        raise BackendError(
            f"the model server of {self.model} version {self.version} did not answer /ping in "
            f"{timeout_s:.0f} s; its log: {self.log}"
        )

    def last_error(self) -> str:
        """The last line of its log that names an error, else its last line."""
        try:
            lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines()]
        except OSError:
            return "no log"
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
        return (errors or lines or ["no output"])[-1][:300]

    # ---- the front's bookkeeping -----------------------------------------------------------

    def enter(self) -> None:
        with self.idle:
            self.in_flight += 1

    def leave(self) -> None:
        with self.idle:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.notify_all()

    def drain(self, grace_s: float) -> int:
        """Waits until no forwarded request is left (or `grace_s` passed); how many are left."""
        deadline = time.monotonic() + grace_s
        with self.idle:
            while self.in_flight and time.monotonic() < deadline:
                self.idle.wait(max(0.0, deadline - time.monotonic()))
            return self.in_flight

    def stop(self, timeout_s: float = 20) -> None:
        """Its whole process group: SIGTERM, then SIGKILL after `timeout_s`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout_s)


def child_env() -> dict[str, str]:
    """This environment, with the repository importable (serving.model_server, serving.smoke)."""
    path = os.pathsep.join(p for p in (str(envs.REPO), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


class Spares:
    """Up to `count` spare Pythons of the TFX environment (this module's `main`), their logs
    under `log_dir`. `run` hands work to one, else starts a fresh Python for it; `fill` (in a
    thread) starts the missing ones one at a time, each once the one before has imported, so as
    not to take the cores from what serves. `count` 0: every model server and smoke test starts
    in a fresh Python."""

    def __init__(self, count: int, log_dir: Path):
        self.count, self.log_dir = int(count), Path(log_dir)
        self.idle: list[tuple[subprocess.Popen, Path]] = []
        self.lock = threading.Lock()
        self.filling = threading.Lock()
        self.stopped = False
        self.made = 0

    def fill(self, ready_timeout_s: float = 300) -> None:
        with self.filling:  # one filler at a time
            while True:
                with self.lock:
                    self.idle = [(p, log) for p, log in self.idle if p.poll() is None]
                    if self.stopped or len(self.idle) >= self.count:
                        return
                    self.made += 1
                    log = self.log_dir / f"spare-{os.getpid()}-{self.made}.log"
                    self.log_dir.mkdir(parents=True, exist_ok=True)
                    with open(log, "w") as out:
                        proc = subprocess.Popen(
                            [envs.tfx_python(), "-m", "serving.warm"],
                            stdin=subprocess.PIPE,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                            env=child_env(),
                            cwd=envs.REPO,
                            text=True,
                        )
                    self.idle.append((proc, log))
                deadline = time.monotonic() + ready_timeout_s
                while time.monotonic() < deadline and proc.poll() is None:
                    if READY_LINE in log.read_text(errors="replace"):
                        break
                    time.sleep(1)

    def fill_later(self) -> None:
        threading.Thread(target=self.fill, daemon=True, name="spares").start()

    def run(self, module: str, argv: list[str], log: Path) -> subprocess.Popen:
        """`python -m module argv...` in the TFX environment, its output to `log`: in a spare
        if one is alive (its imports may still be under way), else in a fresh Python."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            while self.idle:
                proc, _ = self.idle.pop(0)
                if proc.poll() is not None:
                    continue
                work = {"module": module, "argv": argv, "log": str(log)}
                try:
                    proc.stdin.write(json.dumps(work) + "\n")
                    proc.stdin.close()
                except OSError:
                    continue
                return proc
        with open(log, "a") as out:
            return subprocess.Popen(
                [envs.tfx_python(), "-m", module, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=child_env(),
                cwd=envs.REPO,
            )

    def stop(self) -> None:
        """Stops the idle spares, and starts no more."""
        with self.lock:
            self.stopped = True
            idle, self.idle = self.idle, []
        for proc, _ in idle:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
