"""MLflow, as every part of the pipeline reaches it: the client, experiments, the embedded
store's creation, and values quoted for MLflow's filter strings.

The one place an `MlflowClient` is built (`client`). MLflow is imported when a function runs,
so importing this module costs nothing.

The embedded store (SQLite) is created once, under a lock, before any node uses it
(`prepare_store`, called by the node runner): MLflow creates its tables on first use, and two
nodes starting at the same moment on a fresh store (two DAG runs at once; ChampionResolver and
ExampleGen have no upstream) both tried, and one failed with `table ... already exists`. A
tracking server or any non-SQLite URI is left to its operator.
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path

SQLITE = "sqlite:///"
# Tables of both MLflow stores (tracking and model registry); created by the same migrations.
TABLES = {"alembic_version", "experiments", "registered_models", "model_versions"}


def client(tracking_uri: str):
    """An MlflowClient for `tracking_uri`, whose model registry is at the same URI."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def use(tracking_uri: str):
    """`client(tracking_uri)`, with MLflow's fluent API (`mlflow.start_run`, `log_model`,
    `register_model`) pointed at the same store: its tracking URI and its registry URI (one set
    earlier in the process, by another caller, would otherwise take the registrations)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return client(tracking_uri)


def experiment_id(c, name: str, artifact_location: str = "") -> str:
    """The id of experiment `name`, created if missing; with a local store (`artifact_location`)
    its artifacts go there, not to the current directory. Two processes creating it at once
    both get the one that was made."""
    from mlflow.exceptions import MlflowException

    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        if artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
            return c.create_experiment(name, artifact_location=Path(artifact_location).as_uri())
        return c.create_experiment(name)
    except MlflowException:
        found = c.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where a person finds an MLflow run: its page on a tracking server, else its id and
    store (`make mlflow-ui` serves a local one)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"run {run_id} of experiment {experiment_id} in {tracking_uri}"


def model_link(tracking_uri: str, name: str, version) -> str:
    """Where a person finds a registered version: its page on a tracking server, else its URI."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}"
    return f"models:/{name}/{version} in {tracking_uri}"


def literal(value: str) -> str:
    """`value` as a string literal of MLflow's filter syntax (search_runs,
    search_model_versions). MLflow reads no escapes inside quotes, so the value is quoted with
    a quote character it does not hold; a value holding both cannot be expressed."""
    value = str(value)
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"{value!r} holds both quote characters: MLflow's filters cannot match it")


def tag_equals(key: str, value: str) -> str:
    """The filter clause `tags.<key> = <value>`, the key in backticks (it may hold dots)."""
    return f"tags.`{key}` = {literal(value)}"


def _ready(db: Path) -> bool:
    if not db.exists() or db.stat().st_size == 0:
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return TABLES <= names


def prepare_store(tracking_uri: str, artifact_location: str = "") -> None:
    """Creates the SQLite store behind `tracking_uri` if it is not there yet (a no-op when it
    is, or when the URI is not SQLite)."""
    if not tracking_uri.startswith(SQLITE):
        return
    db = Path(tracking_uri[len(SQLITE) :])
    if _ready(db):
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _ready(db):
            return  # another process made it while this one waited
        c = client(tracking_uri)
        c.search_experiments(max_results=1)
        c.search_registered_models(max_results=1)
        if artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
