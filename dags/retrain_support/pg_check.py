"""A postgresql:// data source in check_params, before any node runs (core/pg_source.py):

- the password comes from the Airflow Connection `postgres_conn_id` names (one line when it is
  not defined); its login, host, port and schema, where set, must be the source's, so a trigger
  cannot send the password to another server or user;
- the source is probed (a wrong password, an unreachable host, a missing database or table, a
  query that fails, a label that is not a column: one line each);
- the snapshot is read by `python -m pipelines.snapshot` in the TFX environment (pyarrow),
  with the password in that process's environment only, into PIPELINE_ROOT/_snapshots/<key>;
  every node of the run reads that folder (the setting `data_snapshot`).

The password is never in the settings, a command line or a log.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

SNAPSHOTS = "_snapshots"
REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("retrain")


def connection_password(source, conn_id: str) -> str | None:
    """The password of the Connection `conn_id` for `source`; ValueError in one line when it
    is not defined or names another user, host, port or database."""
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception:  # AirflowNotFoundException, or the API's own error
        env = f"AIRFLOW_CONN_{conn_id.upper()}"
        raise ValueError(
            f"param data {source.uri}: the Airflow Connection {conn_id!r} (postgres_conn_id) is "
            f"not defined; define it with the source's password (e.g. ${env})"
        ) from None
    said = {
        "login": (conn.login, source.user),
        "host": (conn.host, source.host),
        "port": (conn.port and int(conn.port), source.port),
        "schema": (conn.schema, source.dbname),
    }
    wrong = [f"{k} {mine!r}" for k, (mine, theirs) in said.items() if mine and mine != theirs]
    if wrong:
        raise ValueError(
            f"param data {source.uri}: the Airflow Connection {conn_id!r} (postgres_conn_id) is "
            f"for {', '.join(wrong)}, not this source's; its password is not sent elsewhere"
        )
    return conn.password or None


def check_source(settings: dict, deployment) -> dict:
    """Probes the source and reads its snapshot (`deployment`: the builder's Deployment; the
    read may take as long as a node may: node_timeout_s); the settings with `data_snapshot`
    set."""
    from core import columns, pg_source, results
    from core import settings as contract
    from retrain_support import containers, node_client, trust

    if deployment.containers.enabled:
        raise ValueError(
            f"param data: a postgresql:// source is not available with ${containers.ENV} yet"
        )
    label = settings.get("label") or contract.DEFAULT_LABEL
    conn_id = trust.setting("postgres_conn_id", settings, contract)
    limit = trust.setting("node_timeout_s", settings, contract)
    try:
        source = pg_source.parse(settings["data"])
        password = connection_password(source, conn_id)
        names = pg_source.probe(source, password)
    except pg_source.SourceError as e:
        raise ValueError(f"param data {settings['data']}: {e}") from None
    bad = columns.label_problem(label, names, source.uri)
    if bad:
        raise ValueError(f"param data: {bad}")
    root = Path(settings["pipeline_root"])
    root = (root if root.is_absolute() else REPO / root) / SNAPSHOTS
    argv = ["--data", source.uri, "--root", str(root)]
    env = {pg_source.PASSWORD_ENV: password} if password else {}
    tfx = deployment.tfx_python
    lines = node_client.run_module(
        tfx, REPO, "pipelines.snapshot", argv, timeout_s=limit, extra_env=env
    )
    found = results.last(lines)
    if not found or not os.path.isdir(found.get("folder", "")):
        raise ValueError(f"param data {source.uri}: no snapshot was read ({lines[-1:]})")
    log.info("data %s: snapshot of %d rows in %s", source.uri, found["rows"], found["folder"])
    return {**settings, "data_snapshot": found["folder"]}
