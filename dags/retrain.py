"""Retraining DAG (Airflow 3).

Thin wiring only: this file never imports TFX or TensorFlow. Every TFX step runs in the
pipeline environment (Python 3.10) through that environment's own interpreter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

REPO = Path(__file__).resolve().parent.parent
# The pipeline environment's interpreter; `make setup` creates it at .venv/tfx.
TFX_PYTHON = os.environ.get("RETRAIN_TFX_PYTHON", str(REPO / ".venv" / "tfx" / "bin" / "python"))


@dag(
    dag_id="retrain",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["tfx", "nas"],
    doc_md=__doc__,
)
def retrain():
    @task.bash(cwd=str(REPO))
    def check_pipeline_environment() -> str:
        # Smallest real piece until the TFX pipeline lands: the pipeline environment imports.
        return f"{TFX_PYTHON} -m pipelines.check_env"

    check_pipeline_environment()


retrain()
