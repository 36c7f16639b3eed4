"""`mlflow server --app-name basic-auth`, with its users bootstrapped from the environment.

MLflow's basic-auth app reads its settings from an INI file; this writes one in a private
temporary folder from the environment (the auth tables live in RETRAIN_MLFLOW_AUTH_DB, the
backend store's database; their Alembic history is kept apart from the tracking store's), starts
the server, and once it answers, makes sure the pipeline's own user exists with its password
(RETRAIN_MLFLOW_PIPELINE_USER / _PASSWORD). The admin comes from MLflow's own
MLFLOW_AUTH_ADMIN_USERNAME / _PASSWORD. Every other user may read (default_permission READ);
writing needs a permission, which the creator of an experiment or a registered model gets.

    python -m stack.mlflow_server --host=0.0.0.0 --port=5000 --backend-store-uri=... ...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from stack.client import MLflow

INI = """[mlflow]
default_permission = READ
database_uri = {database_uri}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


def _port(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--port="):
            return arg.split("=", 1)[1]
        if arg == "--port":
            return argv[i + 1]
    return "5000"


def ensure_user(base: str, admin: str, admin_password: str, user: str, password: str) -> str:
    """Creates `user`, or sets its password if it exists; 'created' or 'updated'."""
    api = MLflow(base, admin, admin_password)
    body = {"username": user, "password": password}
    if api.call("POST", "/users/create", body)[0] == 200:
        return "created"
    status, out = api.call("PATCH", "/users/update-password", body)
    if status != 200:
        raise RuntimeError(f"could not create or update MLflow user {user!r}: HTTP {status} {out}")
    return "updated"


def main(argv: list[str]) -> int:
    env = os.environ
    private = Path(tempfile.mkdtemp(prefix="mlflow-auth-"))
    ini = private / "basic_auth.ini"
    ini.write_text(INI.format(database_uri=env["RETRAIN_MLFLOW_AUTH_DB"]))
    ini.chmod(0o600)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", *argv],
        env=dict(env, MLFLOW_AUTH_CONFIG_PATH=str(ini)),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: server.send_signal(s))
    base = f"http://127.0.0.1:{_port(argv)}"
    user = env.get("RETRAIN_MLFLOW_PIPELINE_USER", "")
    deadline = time.monotonic() + 300
    while user and server.poll() is None:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                print("mlflow_server: the server did not answer in 300 s", file=sys.stderr)
                server.terminate()
                break
            time.sleep(1)
            continue
        try:
            done = ensure_user(
                base,
                env["MLFLOW_AUTH_ADMIN_USERNAME"],
                env["MLFLOW_AUTH_ADMIN_PASSWORD"],
                user,
                env["RETRAIN_MLFLOW_PIPELINE_PASSWORD"],
            )
        except (OSError, RuntimeError, KeyError) as e:
            print(f"mlflow_server: {e}; stopping the server", file=sys.stderr, flush=True)
            server.terminate()
            break
        print(f"mlflow_server: pipeline user {user!r} {done}", flush=True)
        break
    status = server.wait()
    ini.unlink(missing_ok=True)
    private.rmdir()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
