"""Retraining DAGs (Airflow 3): every TFX pipeline node is one Airflow task.

Thin wiring only: this file never imports TFX or TensorFlow. Each node task runs
`python -m pipelines.run_node --run-id <dag run id> --node <node id> --settings <params>` in the
TFX environment, either through a warm executor (default: TFX imported once per DAG run) or in a
fresh process. Nodes find their inputs in ML Metadata, so only ids cross from Airflow.

- `retrain`: on a schedule (weekly by default; `RETRAIN_SCHEDULE`, e.g. "@daily" or "none").
- `retrain_on_data`: whenever the data Asset is updated; it trains on that Asset's folder.

Each dataset definition (datasets/NAME.json) has its own pair, `retrain_NAME` and
`retrain_NAME_on_data` (dags/datasets/NAME.py). All share the wiring in
retrain_support/builder.py.
"""

from __future__ import annotations

import os

from retrain_support.builder import (  # noqa: F401 (the DAG's names, for tests and tools)
    DATA_URI,
    NODES,
    PARAMS,
    SETTING_PARAMS,
    STATE_DIR,
    build_retrain_dag,
    data_asset,
    pipeline_settings,
)

_schedule = os.environ.get("RETRAIN_SCHEDULE", "@weekly")
retrain = build_retrain_dag(
    "retrain",
    None if _schedule.lower() == "none" else _schedule,
    "Scheduled retraining: ingest, validate, transform, search, train, evaluate, push.",
    doc=__doc__,
)
retrain_on_data = build_retrain_dag(
    "retrain_on_data",
    [data_asset(DATA_URI)],
    "Retraining whenever the data Asset is updated.",
    doc=__doc__,
)
