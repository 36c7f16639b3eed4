"""The production profile on this machine: docker/compose.yaml's services as native processes.

- postgres: a cluster of its own (stack/postgres.py), with the databases and login roles that
  the services' connection URIs in compose.yaml name, and those URIs' passwords;
- redis: `redis-server` with compose's password;
- serving: the front of the served @champion (serving/), with its state under ROOT/state/serving;
- mlflow, airflow-init, api-server, scheduler, dag-processor, triggerer, worker-1, worker-2:
  compose's commands and environments, with the services' addresses moved to loopback ports,
  the state under this stack's folder, and each worker on its own temporary folder (so its
  own warm executors) and its own hostname (stack/hostname.py).

Secrets are generated once into ROOT/secrets.env (mode 0600), as an operator fills
docker/.env. Each service logs to ROOT/logs/NAME.log and leads a process group of its own,
whose pid is in ROOT/pids/NAME.pid (`python -m stack down` reads them).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from core import processes, waiting
from stack import compose_env
from stack.postgres import Postgres

REPO = compose_env.REPO
BIN = Path(sys.executable).parent  # the Airflow environment's bin/
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
WORKERS = ("worker-1", "worker-2")
DATABASE_URIS = (  # (service, where its PostgreSQL URI is, and where the password is)
    ("api-server", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None),
    ("mlflow", "RETRAIN_MLFLOW_AUTH_DB", None),
    ("api-server", "RETRAIN_MLMD_URI", "RETRAIN_MLMD_PASSWORD"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_secret(name: str) -> str:
    if name.endswith("FERNET_KEY"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(24)


class Stack:
    """docker/compose.yaml run natively under `root`. `values` override compose's optional
    variables (AIRFLOW_HEARTBEAT_TIMEOUT_S, ...); `extra_env` is added to every Airflow
    process (the tests' RETRAIN_SETTINGS, say)."""

    def __init__(self, root: Path, values: dict | None = None, extra_env: dict | None = None):
        self.root = Path(root).resolve()
        for sub in ("logs", "pids", "state", "airflow", "mlartifacts"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.config = compose_env.load()
        self.secrets = self._secrets()
        self.values = {**self.secrets, **(values or {})}
        self.extra_env = extra_env or {}
        ports_file = self.root / "ports.json"
        if ports_file.exists():
            self.ports = json.loads(ports_file.read_text())
            missing = [name for name in compose_env.SERVICE_PORTS if name not in self.ports]
            if missing:  # a stack made before a service was added (serving)
                self.ports.update({name: free_port() for name in missing})
                ports_file.write_text(json.dumps(self.ports))
        else:
            self.ports = {name: free_port() for name in compose_env.SERVICE_PORTS}
            ports_file.write_text(json.dumps(self.ports))
        self.postgres = Postgres(self.root, self.ports["postgres"])
        self.procs: dict[str, subprocess.Popen] = {}
        self.held: set[str] = set()  # killed or stopped by hand: not restarted
        self.restarts: dict[str, int] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()

    # ---- settings --------------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        path = self.root / "secrets.env"
        known = {}
        if path.exists():
            known = dict(ln.split("=", 1) for ln in path.read_text().splitlines() if "=" in ln)
        for name in compose_env.secrets_required():
            known.setdefault(name, new_secret(name))
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in known.items()))
        return known

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api-server']}"

    @property
    def serving(self) -> str:
        """The front of the served @champion (POST /invocations)."""
        return f"http://127.0.0.1:{self.ports['serving']}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    def env(self, name: str = "scheduler") -> dict[str, str]:
        """The environment of service `name`: compose's, localized, on top of this one."""
        spec = compose_env.service(self.config, name, self.values)
        env = dict(os.environ)
        for key, value in spec["environment"].items():
            env[key] = compose_env.localize(value, self.ports)
        if name in AIRFLOW_SERVICES or name in WORKERS or name == "airflow-init":
            env.update(
                AIRFLOW_HOME=str(self.root / "airflow"),
                AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
                AIRFLOW__CORE__LOAD_EXAMPLES="False",
                RETRAIN_STATE_DIR=str(self.root / "state"),
                PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                PYTHONPATH=str(REPO),
                PYTHONUNBUFFERED="1",
            )
            env.update(self.extra_env)
        if spec.get("hostname"):
            tmp = self.root / f"tmp-{name}"
            tmp.mkdir(mode=0o700, exist_ok=True)
            env.update(
                TMPDIR=str(tmp),
                AIRFLOW__CORE__HOSTNAME_CALLABLE="stack.hostname.get",
                RETRAIN_WORKER_HOSTNAME=spec["hostname"],
            )
        if name in ("mlflow", "serving"):
            env["PYTHONPATH"] = str(REPO)
        return env

    def command(self, name: str) -> list[str]:
        """Compose's command of `name`, on this machine's executables and ports."""
        if name == "redis":  # compose's image runs it through sh; the same server, here
            password = compose_env.service(self.config, "redis", self.values)["environment"]
            return [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.ports["redis"]), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "yes", "--dir", str(self.root)),
                *("--requirepass", password["REDIS_PASSWORD"]),
            ]
        argv = compose_env.service(self.config, name, self.values)["command"]
        argv = [compose_env.localize(a, self.ports) for a in argv]
        exe = {"python": str(BIN / "python"), "airflow": str(BIN / "airflow")}
        argv[0] = exe.get(argv[0], argv[0])
        if name in ("api-server", "serving"):
            argv[argv.index("--port") + 1] = str(self.ports[name])
        if name == "api-server":
            argv += ["--host", "127.0.0.1"]
        if name == "serving":
            argv[argv.index("--host") + 1] = "127.0.0.1"
            argv[argv.index("--state-dir") + 1] = str(self.root / "state" / "serving")
        if name == "mlflow":
            argv = [
                f"--port={self.ports['mlflow']}" if a.startswith("--port=") else a for a in argv
            ]
            argv = ["--host=127.0.0.1" if a.startswith("--host=") else a for a in argv]
            argv = [
                f"--artifacts-destination={self.root / 'mlartifacts'}"
                if a.startswith("--artifacts-destination=")
                else a
                for a in argv
            ]
            argv.append(f"--allowed-hosts=127.0.0.1:{self.ports['mlflow']},localhost")
        return argv

    # ---- processes -------------------------------------------------------------------------

    def start_service(self, name: str) -> subprocess.Popen:
        """Starts service `name` (again), and lets the supervisor restart it from now on."""
        with self._lock:
            log = open(self.root / "logs" / f"{name}.log", "a")  # noqa: SIM115 (the child's)
            proc = subprocess.Popen(
                self.command(name),
                env=self.env(name),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self.procs[name] = proc
            self.held.discard(name)
            (self.root / "pids" / f"{name}.pid").write_text(str(proc.pid))
            return proc

    def restart_policy(self, name: str) -> str:
        return str(self.config["services"][name].get("restart", "no"))

    def supervise(self, interval_s: float = 2.0) -> None:
        """Compose's restart policy (`restart: unless-stopped`): a service that exits on its
        own is started again, its process group emptied first, as Docker would; one killed by
        hand (`kill`) is not. Runs until
        `stop`; `start` runs it in a thread."""
        log = self.root / "logs" / "supervisor.log"
        while not self._stopping.wait(interval_s):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    if name in self.held or proc.poll() is None:
                        continue
                    if self.restart_policy(name) not in ("always", "unless-stopped"):
                        continue
                    # What it left behind goes first, as with a container's restart: a killed
                    # MLflow wrapper's server would otherwise keep the port.
                    processes.kill_group(proc.pid)
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    with open(log, "a") as f:
                        f.write(
                            f"{time.strftime('%H:%M:%S')} {name} exited with "
                            f"{proc.returncode}; restarting it\n"
                        )
                    self.start_service(name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Sends `sig` to service `name` and every process below it (a lost host); the pids.
        The supervisor leaves it down until `start_service(name)`."""
        with self._lock:
            self.held.add(name)
        pid = int((self.root / "pids" / f"{name}.pid").read_text())
        pids = [pid, *processes.descendants(pid)]
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        if name in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.procs[name].wait(30)
        return pids

    def start(self, timeout_s: float = 600) -> Stack:
        """Every service, in compose's order of dependencies; returns once the API answers."""
        deadline = time.monotonic() + timeout_s
        self.postgres.start()
        for service, key, password_key in DATABASE_URIS:
            env = self.env(service)
            uri = urlparse(env[key].replace("+psycopg2", ""))
            password = env[password_key] if password_key else uri.password
            self.postgres.create_database(uri.path.lstrip("/"), uri.username, password)
        self.start_service("redis")
        self.start_service("mlflow")
        self.start_service("serving")  # serves @champion once MLflow answers, if there is one
        init = subprocess.run(
            self.command("airflow-init"),
            env=self.env("airflow-init"),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            start_new_session=True,
        )
        (self.root / "logs" / "airflow-init.log").write_text(init.stdout + init.stderr)
        if init.returncode != 0:
            raise RuntimeError(f"airflow-init failed:\n{init.stdout[-2000:]}{init.stderr[-3000:]}")
        for name in (*AIRFLOW_SERVICES, *WORKERS):
            self.start_service(name)
        threading.Thread(target=self.supervise, daemon=True, name="supervisor").start()
        self.wait_http(f"{self.api}/api/v2/monitor/health", "api-server", deadline)
        self.wait_http(f"{self.mlflow}/health", "mlflow", deadline)
        self.wait_http(f"{self.serving}/-/health", "serving", deadline)
        return self

    def wait_http(self, url: str, name: str, deadline: float) -> None:
        def up() -> bool:
            if waiting.answers(url):
                return True
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            return False

        if not waiting.wait_until(up, deadline - time.monotonic(), every_s=2, quiet=True):
            raise TimeoutError(f"{name} did not answer {url}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """Every service's process group, the warm executors its workers started, then
        PostgreSQL."""
        self._stopping.set()
        with self._lock:
            self.held.update(self.procs)
        for pid_file in sorted((self.root / "pids").glob("*.pid")):
            try:
                pid = int(pid_file.read_text())
                pids = [pid, *processes.descendants(pid)]
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pids = []
            for p in processes.wait_gone(pids, timeout_s=20):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            pid_file.unlink()
        for pid in self.executors():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.postgres.stop()

    def executors(self, worker: str = "") -> list[int]:
        """The warm executors the workers (or one of them) started: their sockets are in the
        workers' own temporary folders. Their forked children (nodes) carry the same command
        line and are left out."""
        folder = str(self.root / (f"tmp-{worker}" if worker else "tmp-"))
        found = processes.matching(
            lambda argv: (
                "pipelines.warm_executor" in argv and any(a.startswith(folder) for a in argv)
            )
        )
        return sorted(pid for pid, parent in found.items() if parent not in found)

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The airflow CLI against this stack."""
        out = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env("scheduler"),
            capture_output=True,
            text=True,
            timeout=600,
            start_new_session=True,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args[:3])}: {out.stdout}{out.stderr}")
        return out
