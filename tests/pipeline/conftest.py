"""What every pipeline test gets: MLflow's process-wide URIs as they were before it."""

from __future__ import annotations

import os
import sys

import pytest

ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _mlflow_uris_restored():
    """A test that points MLflow's fluent API at its own store (mlflow.set_tracking_uri,
    set_registry_uri; each also exports an environment variable) leaves it there for the next
    test in the process, whose in-process nodes then registered into a store that was gone
    (CI, stop 37: a registry URI of a stopped server; another test's SQLite store). Unset after
    each test that imported MLflow, and the variables restored."""
    env = {k: os.environ.get(k) for k in ENV}
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
