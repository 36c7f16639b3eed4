"""Airflow's one-time setup in the production stack (compose's airflow-init service, and
`make stack`): migrate the metadata DB, create the admin user of the FAB auth manager, the gpu
pool, and the Connection that holds the pipeline's MLflow credentials. Idempotent: run it again
and passwords are reset to the environment's, nothing is duplicated.

Secrets come from the environment (AIRFLOW_ADMIN_PASSWORD, RETRAIN_MLFLOW_PIPELINE_PASSWORD) and
never reach a command line: the Connection is imported from a file only this user can read,
removed at once.

    python -m stack.airflow_init --mlflow-url http://mlflow:5000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

CONN_ID_ENV = "RETRAIN_MLFLOW_CONN"
PIPELINE_USER = "pipeline"


def airflow(*args: str, check: bool = True, stdin: str | None = None) -> str:
    """`airflow ARGS` (this environment's)."""
    exe = str(Path(sys.executable).with_name("airflow"))
    # A session of its own, without a terminal: a password prompt reads stdin, never a tty.
    out = subprocess.run(
        [exe, *args], capture_output=True, text=True, input=stdin, start_new_session=True
    )
    if check and out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args[:3])} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def ensure_user(username: str, role: str, password: str) -> None:
    """A FAB user with `role` and `password` (created, or its password reset)."""
    # Created with a random password, or already there (this fails then); either way the
    # password is set next.
    airflow(
        "users",
        "create",
        "--username",
        username,
        "--role",
        role,
        "--firstname",
        username,
        "--lastname",
        role,
        "--email",
        f"{username}@localhost",
        "--use-random-password",
        check=False,
    )
    # `users reset-password` reads the new password twice from stdin, never the command line.
    airflow("users", "reset-password", "--username", username, stdin=f"{password}\n{password}\n")


def mlflow_connection(conn_id: str, url: str, login: str, password: str) -> None:
    """The Connection `conn_id` (http, the MLflow server at `url`, its login and password)."""
    parts = urlparse(url)
    conn = {
        conn_id: {
            "conn_type": "http",
            "host": parts.hostname,
            "port": parts.port,
            "schema": parts.scheme,
            "login": login,
            "password": password,
            "description": "the retraining pipeline's MLflow user (stack/airflow_init.py)",
        }
    }
    airflow("connections", "delete", conn_id, check=False)
    with tempfile.TemporaryDirectory() as private:
        path = Path(private) / "connection.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(conn))
        airflow("connections", "import", str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-url", required=True)
    parser.add_argument("--gpu-slots", default=os.environ.get("RETRAIN_GPU_SLOTS", "1"))
    args = parser.parse_args(argv)
    airflow("db", "migrate")
    ensure_user("admin", "Admin", os.environ["AIRFLOW_ADMIN_PASSWORD"])
    airflow("pools", "set", "gpu", str(args.gpu_slots), "GPU slots for Tuner and Trainer")
    conn_id = os.environ.get(CONN_ID_ENV, "")
    if conn_id:
        mlflow_connection(
            conn_id, args.mlflow_url, PIPELINE_USER, os.environ["RETRAIN_MLFLOW_PIPELINE_PASSWORD"]
        )
    print("airflow_init: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
