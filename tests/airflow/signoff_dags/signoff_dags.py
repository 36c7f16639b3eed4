"""DAGs of tests/airflow/test_signoff.py: the retraining DAG's own `sign_off` task
(dags/retrain_support/signoff.py), fed the Pusher's outcome from the trigger's conf instead of a
TFX pipeline run, and the run's settings as check_params makes them (builder.pipeline_settings).
`signoff_test` waits `approval_timeout_s` (the deployment's setting); `signoff_test_timeout`
waits TIMEOUT_S."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, task

DAGS = str(Path(__file__).resolve().parents[3] / "dags")
if DAGS not in sys.path:  # a DAG bundle beside the repo's dags/ (test_production's stack)
    sys.path.insert(0, DAGS)

from retrain_support import builder  # noqa: E402
from retrain_support.signoff import sign_off_task  # noqa: E402

TIMEOUT_S = 15


def build(dag_id: str, timeout_s: float | None = None):
    @dag(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=8,
    )
    def signoff_test():
        @task(task_id="Pusher")
        def pusher(dag_run=None) -> dict:
            """The shape of the Pusher's outcome (pipelines/run_node.py's `pushed`)."""
            conf = dag_run.conf
            version = str(conf["version"])
            return {
                "node": "Pusher",
                "pushed": {
                    "pushed": True,
                    "model": conf["model"],
                    "version": version,
                    "destination": f"models:/{conf['model']}/{version}",
                    "promotion": conf["promotion"],
                    "promotion_reason": "",
                },
            }

        @task
        def check_params(dag_run=None) -> dict:
            return builder.pipeline_settings({}, dag_run.dag_id, dag_run.run_id)

        model = Asset(name=f"{dag_id}_model", uri=f"mlflow-model://{dag_id}")
        sign = sign_off_task(pusher(), check_params(), builder.TFX_PYTHON, [model])
        if timeout_s:
            sign.response_timeout = timedelta(seconds=timeout_s)

    return signoff_test()


build("signoff_test")
build("signoff_test_timeout", TIMEOUT_S)
