"""`mlflow server --app-name basic-auth`, with its users bootstrapped from the environment.

MLflow's basic-auth app reads its settings from an INI file; this writes one in a private
temporary folder from the environment (the auth tables live in RETRAIN_MLFLOW_AUTH_DB, the
backend store's database; their Alembic history is kept apart from the tracking store's), starts
the server, and once it answers, makes sure the pipeline's own user exists with its password
(RETRAIN_MLFLOW_PIPELINE_USER / _PASSWORD). The admin comes from MLflow's own
MLFLOW_AUTH_ADMIN_USERNAME / _PASSWORD. Every other user may read (default_permission READ);
writing needs a permission, which the creator of an experiment or a registered model gets.

Where RETRAIN_REGISTRY_WEBHOOK_URL is set, it then registers (or updates) the registry webhook
`retrain-deploy` as the admin: `model_version_alias.created` to that URL, signed with
RETRAIN_REGISTRY_WEBHOOK_SECRET (core/registry_webhook.py; the receiver is Airflow's api-server).

    python -m stack.mlflow_server --host=0.0.0.0 --port=5000 --backend-store-uri=... ...
"""

from __future__ import annotations

import configparser
import io
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException

from core import registry_webhook, waiting
from stack.client import MLflow


def auth_ini(database_uri: str) -> str:
    """The basic-auth app's INI. MLflow reads it with configparser's interpolation on, so a
    `%` in a value (a URL-encoded password in the database URI) is written as `%%`."""
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": "READ",
        "database_uri": database_uri,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    for key, value in config["mlflow"].items():
        config["mlflow"][key] = value.replace("%", "%%")
    out = io.StringIO()
    config.write(out)
    return out.getvalue()


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


def ensure_webhook(base: str, admin: str, admin_password: str, url: str, secret: str) -> str:
    """The registry webhook to `url` with `secret`, created or updated: 'created' or
    'updated'. MLflow's client, as the admin (only an admin may manage webhooks)."""
    from mlflow import MlflowClient

    os.environ.update(MLFLOW_TRACKING_USERNAME=admin, MLFLOW_TRACKING_PASSWORD=admin_password)
    client = MlflowClient(base, registry_uri=base)
    spec = dict(
        url=url,
        events=[registry_webhook.EVENT],
        secret=secret,
        description="@champion set -> deploy_new_model (stack/mlflow_server.py)",
    )
    for hook in client.list_webhooks(max_results=1000):
        if hook.name == registry_webhook.WEBHOOK_NAME:
            client.update_webhook(hook.webhook_id, status="ACTIVE", **spec)
            return "updated"
    client.create_webhook(registry_webhook.WEBHOOK_NAME, **spec)
    return "created"


def bootstrap(base: str, env) -> None:
    """The pipeline's user, then the registry webhook where one is configured."""
    admin, password = env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"]
    user = env["RETRAIN_MLFLOW_PIPELINE_USER"]
    done = ensure_user(base, admin, password, user, env["RETRAIN_MLFLOW_PIPELINE_PASSWORD"])
    print(f"mlflow_server: pipeline user {user!r} {done}", flush=True)
    url = env.get("RETRAIN_REGISTRY_WEBHOOK_URL", "")
    if url:
        secret = env["RETRAIN_REGISTRY_WEBHOOK_SECRET"]
        done = ensure_webhook(base, admin, password, url, secret)
        print(f"mlflow_server: registry webhook to {url} {done}", flush=True)


def main(argv: list[str]) -> int:
    env = os.environ
    private = Path(tempfile.mkdtemp(prefix="mlflow-auth-"))
    ini = private / "basic_auth.ini"
    ini.write_text(auth_ini(env["RETRAIN_MLFLOW_AUTH_DB"]))
    ini.chmod(0o600)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", *argv],
        env=dict(env, MLFLOW_AUTH_CONFIG_PATH=str(ini)),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: server.send_signal(s))
    base = f"http://127.0.0.1:{_port(argv)}"
    user = env.get("RETRAIN_MLFLOW_PIPELINE_USER", "")
    up = user and waiting.wait_until(
        lambda: waiting.answers(f"{base}/health") or server.poll() is not None, 300, quiet=True
    )
    if user and not up:
        print("mlflow_server: the server did not answer in 300 s", file=sys.stderr)
        server.terminate()
    if user and up and server.poll() is None:
        try:
            bootstrap(base, env)
        except (OSError, RuntimeError, KeyError, MlflowException) as e:
            print(f"mlflow_server: {e}; stopping the server", file=sys.stderr, flush=True)
            server.terminate()
    status = server.wait()
    ini.unlink(missing_ok=True)
    private.rmdir()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
