"""A downstream DAG: it runs whenever the `retrain` DAG registers a new model version.

The retraining DAG's `announce` task updates the Asset `retrain_model` (URI
`mlflow-model://retrain`) after the Pusher registered a version, with `extra` holding the
registered model's name, the version, its `models:/NAME/VERSION` URI and the run that made it.
(A dataset's DAGs update `retrain_NAME_model` and `retrain_NAME_on_data_model`.) NOT BLESSED runs
update nothing.

This one logs what it would deploy: replace the task's body with your deployment (a serving
endpoint's reload, a canary, a ticket). It is paused until you unpause it, as every new DAG is.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import Asset, dag, task
from retrain_support import notify

MODEL = Asset(name="retrain_model", uri=notify.model_asset_uri("retrain"))
log = logging.getLogger("retrain")


@dag(
    schedule=[MODEL],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["retraining", "deployment"],
    doc_md=__doc__,
)
def deploy_new_model():
    @task
    def deploy(triggering_asset_events=None) -> list[dict]:
        """Each new version this run was triggered by (several runs may be coalesced)."""
        versions = [dict(e.extra) for e in (triggering_asset_events or {}).get(MODEL, [])]
        for v in versions:
            log.info(
                "NEW MODEL VERSION: %s version %s (%s), from %s run %s: deploy it here",
                v.get("model"),
                v.get("version"),
                v.get("uri"),
                v.get("dag_id"),
                v.get("run_id"),
            )
        return versions

    deploy()


deploy_new_model()
