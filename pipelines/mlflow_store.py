"""The embedded MLflow store (SQLite) is created once, under a lock, before any node uses it.

MLflow creates its tables on first use. Two nodes starting at the same moment on a fresh
store (two DAG runs at once; ChampionResolver and ExampleGen have no upstream) both try, and
one fails with `table ... already exists`. A tracking server or any non-SQLite URI is left to
its operator.
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path

# Tables of both MLflow stores (tracking and model registry); created by the same migrations.
TABLES = {"alembic_version", "experiments", "registered_models", "model_versions"}


def _ready(db: Path) -> bool:
    if not db.exists() or db.stat().st_size == 0:
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return TABLES <= names


def prepare(tracking_uri: str, artifact_location: str = "") -> None:
    """Creates the SQLite store behind `tracking_uri` if it is not there yet (a no-op when
    it is, or when the URI is not SQLite)."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    db = Path(tracking_uri[len("sqlite:///") :])
    if _ready(db):
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _ready(db):
            return  # another process made it while this one waited
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
        if artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
