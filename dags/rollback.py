"""Roll a registered model back: move its @champion to the champion before it (its record of
champions, core/promotion.py; versions that were only @challenger are skipped), or to a version
you name, and record why (tags `rollback.reason`, `rollback.from_version`, `rollback.at` and the
`champion.*` record on the version; `rollback.last` on the model). Trigger it from the UI or the
REST API with the model's name and a reason. The next retraining run's ChampionResolver takes
the new @champion: a warm run starts from it and the Evaluator gates against it.

`dataset`: the dataset definition whose store holds the model (datasets/NAME.json); empty: the
generic `retrain` DAG's store. The work is `python -m pipelines.rollback` in the TFX environment.
"""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import Param, dag, task
from retrain_support import builder, node_client
from retrain_support.builder import REPO, datasets


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["retraining", "operations"],
    doc_md=__doc__,
    params={
        "model": Param("", type="string", minLength=1, description="Registered model name."),
        "reason": Param("", type="string", minLength=3, description="Why: kept in the tags."),
        "version": Param(
            None, type=["null", "integer"], minimum=1, description="Empty: the champion before."
        ),
        "dataset": Param(
            "", type="string", description="Dataset definition holding it; empty: generic."
        ),
    },
)
def rollback():
    @task(retries=0)
    def move_champion(params=None) -> str:
        """Moves @champion and says from which version to which, or why not, in one line."""
        dataset = datasets.named(params["dataset"]) if params["dataset"] else None
        settings = builder.pipeline_settings({}, "rollback", "", dataset)
        keep = ("pipeline_root", "metadata_path", "metadata_uri", "mlflow_tracking_uri")
        settings = {k: v for k, v in settings.items() if k in keep}
        argv = ["--model", params["model"], "--reason", params["reason"]]
        argv += ["--settings", json.dumps(settings)]
        if params["version"]:
            argv += ["--version", str(params["version"])]
        env = builder.Deployment.from_env()
        lines = node_client.run_module(env.tfx_python, REPO, "pipelines.rollback", argv)
        return [ln for ln in lines if ln.startswith("ROLLBACK")][-1]

    move_champion()


rollback()
