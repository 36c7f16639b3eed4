"""Where `make setup` puts the two environments (Makefile: `.venv/airflow`, `.venv/tfx`), and
the commands in them that the DAG, the tests and the benches run: written once here.
$RETRAIN_TFX_PYTHON names another TFX interpreter (an image's, a deployment's).

Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
AIRFLOW_BIN = VENV / "airflow" / "bin"


def airflow_tool(name: str) -> str:
    """A command of the Airflow environment: `python`, `airflow`, `mlflow`, `hadolint`, ..."""
    return str(AIRFLOW_BIN / name)


def tfx_python() -> str:
    """The TFX environment's interpreter: $RETRAIN_TFX_PYTHON, else `.venv/tfx/bin/python`."""
    return os.environ.get("RETRAIN_TFX_PYTHON") or str(VENV / "tfx" / "bin" / "python")


AIRFLOW_PYTHON = airflow_tool("python")
AIRFLOW = airflow_tool("airflow")
MLFLOW = airflow_tool("mlflow")
