"""A real `mlflow server` on loopback for the tests of both trees: its SQLite store and proxied
artifacts under a folder the test owns."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from core import envs, waiting

MLFLOW = envs.MLFLOW


def start_server(root, port: int) -> subprocess.Popen:
    """`mlflow server` on 127.0.0.1:`port` with its store under `root`, once /health answers."""
    log = open(root / "server.log", "a")  # noqa: SIM115 (the server writes to it)
    proc = subprocess.Popen(
        [
            MLFLOW,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    up = waiting.wait_until(
        lambda: waiting.answers(f"http://127.0.0.1:{port}/health") or proc.poll() is not None,
        300,  # 91 s on a loaded 2-core machine (load 9, 2026-12-06)
        quiet=True,
    )
    if not up or proc.poll() is not None:
        stop_server(proc)
        pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()}")
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """Stops the server and its gunicorn/uvicorn workers (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
