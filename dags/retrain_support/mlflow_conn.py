"""The pipeline's MLflow credentials, from an Airflow Connection.

`RETRAIN_MLFLOW_CONN` names the Connection (conn type http: schema http/https, host, port,
login, password; the production stack's airflow-init makes `retrain_mlflow`). When it is set,
the tracking URI comes from the Connection, and its login and password reach the node
processes as MLflow's own MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD: in their
environment only, never in the settings, a command line or a log. Unset, the deployment's
MLFLOW_TRACKING_URI (or the embedded store) is used, without credentials.
"""

from __future__ import annotations

import os

ENV = "RETRAIN_MLFLOW_CONN"


def _connection():
    conn_id = os.environ.get(ENV, "")
    if not conn_id:
        return None
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id)
    except Exception as e:  # AirflowNotFoundException, or the API's own error
        raise RuntimeError(
            f"${ENV} names the Connection {conn_id!r}, which could not be read: {e}"
        ) from None


def _uri(conn) -> str:
    if not conn.host:
        raise ValueError(f"the Connection {conn.conn_id!r} ({ENV}) has no host")
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.schema or 'http'}://{conn.host}{port}"


def tracking_uri() -> str:
    """The MLflow tracking URI the pipeline uses ('' for the embedded store)."""
    conn = _connection()
    return os.environ.get("MLFLOW_TRACKING_URI", "") if conn is None else _uri(conn)


def node_env() -> dict[str, str]:
    """What a node process adds to its environment to reach MLflow."""
    conn = _connection()
    if conn is None:
        return {}
    env = {"MLFLOW_TRACKING_URI": _uri(conn)}
    if conn.login:
        env["MLFLOW_TRACKING_USERNAME"] = conn.login
        env["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
    return env
