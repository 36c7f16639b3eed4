"""Retention: keeps the state of a weekly retraining job bounded (pipelines/retention.py).

For the generic `retrain` DAG's store and each dataset definition's (datasets/NAME.json), it
keeps the last `keep_runs` pipeline runs, the runs that registered @champion and @challenger
(their whole lineage) and any run still going, and removes the rest: pipeline-root artifacts
(their ML Metadata records marked DELETED), search state, rendezvous and lock folders, the MLflow
search, trial and data-profile runs (then `mlflow gc` on an SQLite store), and the logs of
crashed warm executors. Registered versions are never removed.

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
        "dry_run": Param(False, type="boolean", description="Say what would go; remove none."),
    },
)
def retention():
    @task(retries=0)
    def clean(params=None) -> list[dict]:
        """One pass per store: the generic DAG's, then each dataset definition's."""
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
            if params["keep_runs"]:
                argv += ["--keep-runs", str(params["keep_runs"])]
            if params["dry_run"]:
                argv.append("--dry-run")
            lines = node_client.run_module(
                tfx_python, REPO, "pipelines.retention", argv, timeout_s=3600
            )
            [result] = [ln for ln in lines if ln.startswith("RESULT ")][-1:]
            results.append(json.loads(result[len("RESULT ") :]))
        return results

    clean()


retention()
