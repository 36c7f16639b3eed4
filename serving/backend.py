"""One registered version served by MLflow's own scoring server.

    python -m serving.model_server --model-uri models:/NAME/VERSION --host 127.0.0.1 --port PORT

(model_server.py: the app `mlflow models serve --env-manager local` serves, in one Python
instead of the MLflow CLI's then uvicorn's) run with the TFX environment's interpreter
(core/envs.py), so the pyfunc's TensorFlow is there, on a free loopback port, in a process group
of its own. It answers /invocations with raw rows (dataframe_split / dataframe_records JSON) as
the pyfunc does, and /ping once the model loaded.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from core import envs


class BackendError(RuntimeError):
    """A model server that did not come up; the message is one line naming the version."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model: str, version: str, port: int) -> list[str]:
    return [
        *(envs.tfx_python(), "-m", "serving.model_server"),
        *("--model-uri", f"models:/{model}/{version}", "--host", "127.0.0.1", "--port", str(port)),
    ]


class Backend:
    """A model server for `model` version `version`, its log under `log_dir`. `in_flight` counts
    the requests the front has forwarded to it and not yet answered."""

    def __init__(self, model: str, version: str, log_dir: Path, port: int = 0):
        self.model, self.version = model, str(version)
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

    def start(self) -> Backend:
        self.started_at = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                serve_command(self.model, self.version, self.port),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env(),
                cwd=envs.REPO,
            )
        return self

    def env(self) -> dict[str, str]:
        """This environment, with the repository importable (serving.model_server)."""
        path = os.pathsep.join(p for p in (str(envs.REPO), os.environ.get("PYTHONPATH")) if p)
        return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")

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
