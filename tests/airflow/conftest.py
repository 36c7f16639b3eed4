"""Tests run in the Airflow environment. Airflow reads its config when first imported, so the
isolated AIRFLOW_HOME is set here, before any test module imports airflow."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TFX_PYTHON = os.environ.get("RETRAIN_TFX_PYTHON", str(REPO / ".venv" / "tfx" / "bin" / "python"))

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-test-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# As Airflow does for its DAG processor and workers: the DAGs folder is importable.
sys.path.insert(0, str(DAGS))

AIRFLOW = str(REPO / ".venv" / "airflow" / "bin" / "airflow")


def free_port() -> int:
    """A free TCP port on loopback, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The line `airflow dags test` prints when the run ends: (run id, state).
FINISHED = re.compile(r"DagRun Finished: dag_id=retrain, .*? run_id=([^,]+),.*? state=(\w+)")


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database (SQLite) in this session's AIRFLOW_HOME."""
    out = subprocess.run([AIRFLOW, "db", "migrate"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]
