"""`make stack` / `make stack-down`: the production profile on this machine.

python -m stack up   [--root .local/stack]   start it in the background (a supervisor
                                              process restarts what exits, as compose's
                                              `restart: unless-stopped` does); prints the
                                              URLs and where the passwords are
python -m stack down [--root .local/stack]   stop every service (the state stays)
python -m stack serve [--root ...]           the supervisor itself, in the foreground
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import processes, waiting
from stack.native import REPO, Stack


def serve(root: Path) -> int:
    stack = Stack(root)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        stack.start()
        (root / "ready").write_text(str(os.getpid()))
        while not stopping:
            time.sleep(1)
    finally:
        (root / "ready").unlink(missing_ok=True)
        stack.stop()
    return 0


def up(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    pid_file = root / "stack.pid"
    if pid_file.exists() and processes.alive(int(pid_file.read_text())):
        print(f"the stack is already running (supervisor pid {pid_file.read_text()})")
    else:
        (root / "ready").unlink(missing_ok=True)
        with open(root / "stack.log", "a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "stack", "serve", "--root", str(root)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file.write_text(str(proc.pid))
        ready = root / "ready"
        waiting.wait_until(lambda: ready.exists() or proc.poll() is not None, float("inf"), 2)
        if not ready.exists():
            tail = (root / "stack.log").read_text(errors="replace")[-3000:]
            print(f"error: the stack did not start:\n{tail}", file=sys.stderr)
            return 1
    stack = Stack(root)
    print(
        f"Airflow UI and API  {stack.api}   (user admin)\n"
        f"MLflow              {stack.mlflow}   (user admin)\n"
        f"served @champion    {stack.serving}/invocations   (deploy_new_model deploys)\n"
        f"registry webhook    MLflow -> {stack.api}/registry-webhook/mlflow   (@champion set "
        "in MLflow is deployed; secret REGISTRY_WEBHOOK_SECRET)\n"
        f"passwords           {root / 'secrets.env'} "
        "(AIRFLOW_ADMIN_PASSWORD, MLFLOW_ADMIN_PASSWORD)\n"
        f"logs                {root / 'logs'}, {root / 'stack.log'}\n"
        "stop it with `make stack-down`"
    )
    return 0


def down(root: Path) -> int:
    pid_file = root / "stack.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        processes.wait_gone([pid], timeout_s=180)
        pid_file.unlink(missing_ok=True)
    Stack(root).stop()  # whatever is left, if the supervisor was gone
    print(f"stack stopped; its state stays in {root} (remove it to start afresh)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "serve"])
    parser.add_argument("--root", default=str(REPO / ".local" / "stack"))
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    return {"up": up, "down": down, "serve": serve}[args.action](root)


if __name__ == "__main__":
    sys.exit(main())
