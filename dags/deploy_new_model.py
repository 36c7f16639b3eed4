"""A downstream DAG: it runs whenever the `retrain` DAG registers a new model version, and
deploys it when it is @champion; and whenever @champion is set in MLflow (its UI, its API, a
rollback by hand), and deploys whatever @champion points at then: the registry leads, serving
follows.

The retraining DAG's `announce` task updates the Asset `retrain_model` (URI
`mlflow-model://retrain`) after the Pusher registered a version, with `extra` holding the
registered model's name, the version, its `models:/NAME/VERSION` URI and the run that made it.
(A dataset's DAGs update `retrain_NAME_model` and `retrain_NAME_on_data_model`.) NOT BLESSED runs
update nothing.

An alias set in MLflow reaches it through MLflow's registry webhook: its receiver on the
api-server (plugins/registry_webhook.py) checks the delivery's signature and records an event
of the Asset `registry_champion_moved` with {"model", "version", "alias"}; `make stack`
registers the webhook (stack/mlflow_server.py). Runs one at a time (max_active_runs=1), so two
deploys never race; the one that finds its version serving already does nothing.

The deploy itself is serving/deploy.py's, through the serving front (`serving_url`, which `make
stack` runs): the new version's model server starts beside the old one, is smoke-tested against
the registered pyfunc in process, and takes the traffic; the old one drains, then stops. A
version that is @challenger only is not deployed. A failed smoke test keeps the old version
serving, puts @champion back, notifies (dags/retrain_support/notify.py) and fails the task.
It is paused until you unpause it, as every new DAG is.
"""

from __future__ import annotations

import logging
import os

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task
from retrain_support import mlflow_conn, notify

from core import registry_webhook

MODEL = Asset(name="retrain_model", uri=notify.model_asset_uri("retrain"))
ALIAS_MOVED = Asset(name=registry_webhook.ASSET_NAME, uri=registry_webhook.ASSET_URI)
log = logging.getLogger("retrain")


@dag(
    schedule=MODEL | ALIAS_MOVED,
    max_active_runs=1,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["retraining", "deployment"],
    doc_md=__doc__,
)
def deploy_new_model():
    @task
    def deploy(triggering_asset_events=None) -> dict | None:
        """Of the triggering events, newest first (several may be coalesced): a registered
        version that is @champion now, or the model whose @champion was set in MLflow, at the
        version @champion points at now; deployed. None when there is nothing to deploy."""
        from mlflow import MlflowClient

        from serving import deploy as serving_deploy

        triggering = triggering_asset_events or {}
        versions = [
            dict(e.extra, at=e.timestamp.isoformat())
            for asset in (MODEL, ALIAS_MOVED)
            for e in triggering.get(asset, [])
        ]
        for v in versions:
            if "alias" in v:
                log.info(
                    "CHAMPION SET IN MLFLOW: %s version %s (webhook delivery %s at %s)",
                    *(v.get("model"), v.get("version"), v.get("delivery"), v["at"]),
                )
                continue
            log.info(
                "NEW MODEL VERSION: %s version %s (%s), from %s run %s",
                *(v.get("model"), v.get("version"), v.get("uri"), v.get("dag_id"), v.get("run_id")),
            )
        os.environ.update(mlflow_conn.node_env())  # this task's MLflow client
        client = MlflowClient()
        chosen = serving_deploy.champion_of(client, versions)
        if chosen is None:
            return None

        def told(message: str) -> None:
            notify.send(notify.DEPLOY_FAILED, message, get_current_context())

        return serving_deploy.deploy(client, *chosen, notify=told)

    deploy()


deploy_new_model()
