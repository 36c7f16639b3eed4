"""Retention: keeps the state of a weekly retraining job bounded (pipelines/retention.py).

For the generic `retrain` DAG's store and each dataset definition's (datasets/NAME.json):
registered versions first, keeping of each model every version holding an alias (@champion,
@challenger), the last `keep_champions` champions (the rollback targets) and every version
younger than `keep_days`, and removing the store's other versions with their MLflow run and
logged model; then pipeline runs, keeping the last `keep_runs`, the runs that registered
@champion and @challenger (their whole lineage), the model of every kept version and any run
still going, and removing the rest: pipeline-root artifacts (their ML Metadata records marked
DELETED), search state, rendezvous and lock folders, the MLflow search, trial and data-profile
runs (then `mlflow gc` on an SQLite store), and the logs of crashed warm executors.

Schedule: $RETRAIN_RETENTION_SCHEDULE (default @weekly; "none" for manual runs only).
"""

from __future__ import annotations

import json
import logging
import os

import pendulum
from airflow.sdk import Param, dag, task
from retrain_support import builder, node_client
from retrain_support.builder import REPO, contract, datasets

log = logging.getLogger("retrain")
_schedule = os.environ.get("RETRAIN_RETENTION_SCHEDULE", "@weekly")
KEEP = contract.SETTINGS["retention_keep_runs"]
CHAMPIONS = contract.SETTINGS["retention_keep_champions"]
DAYS = contract.SETTINGS["retention_keep_days"]


@dag(
    schedule=None if _schedule.lower() == "none" else _schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["retraining", "operations"],
    doc_md=__doc__,
    params={
        "keep_runs": Param(
            None, type=["null", "integer"], minimum=1, description=f"Empty: {KEEP.doc}"
        ),
        "keep_champions": Param(
            None,
            type=["null", "integer"],
            minimum=CHAMPIONS.minimum,
            description=f"Empty: {CHAMPIONS.doc}",
        ),
        "keep_days": Param(
            None, type=["null", "number"], minimum=DAYS.minimum, description=f"Empty: {DAYS.doc}"
        ),
        "dry_run": Param(False, type="boolean", description="Say what would go; remove none."),
    },
)
def retention():
    @task(retries=0)
    def clean(params=None) -> list[dict]:
        """One pass per store: the generic DAG's, then each dataset definition's."""
        from core import results as command_results  # the repository: on sys.path (retrain_support)

        found, _ = datasets.load_all()
        tfx_python = builder.Deployment.from_env().tfx_python
        results = []
        for dataset in [None, *found]:
            settings = builder.pipeline_settings({}, "retention", "", dataset)
            settings.pop("lineage", None)
            on_postgres = settings.get("metadata_uri") or os.environ.get("RETRAIN_MLMD_URI")
            if not on_postgres and not os.path.exists(settings["metadata_path"]):
                log.info("no store at %s: nothing to keep bounded", settings["metadata_path"])
                continue
            argv = ["--settings", json.dumps(settings)]
            for key in ("keep_runs", "keep_champions", "keep_days"):
                if params[key] is not None:
                    argv += [f"--{key.replace('_', '-')}", str(params[key])]
            if params["dry_run"]:
                argv.append("--dry-run")
            lines = node_client.run_module(
                tfx_python, REPO, "pipelines.retention", argv, timeout_s=3600
            )
            results.append(command_results.last(lines))
        return results

    clean()


retention()
