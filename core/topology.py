"""The retraining pipeline's nodes and their upstream nodes, as compiled from
pipelines/retrain.py, in the order they run. Standard library only: the Airflow DAGs
(dags/retrain_support/builder.py), the benches and the tests read it without TFX.
tests/airflow/test_topology.py fails if it drifts from the compiled TFX pipeline."""

from __future__ import annotations

NODES: dict[str, list[str]] = {
    "ExampleGen": [],
    "StatisticsGen": ["ExampleGen"],
    "SchemaGen": ["StatisticsGen"],
    "PreviousSpanResolver": [],
    "ExampleValidator": ["PreviousSpanResolver", "SchemaGen", "StatisticsGen"],
    "Transform": ["ExampleGen", "ExampleValidator", "SchemaGen"],
    "ChampionResolver": [],
    "Tuner": ["ChampionResolver", "StatisticsGen", "Transform"],
    "Trainer": ["SchemaGen", "Transform", "Tuner"],
    "Evaluator": ["ChampionResolver", "ExampleGen", "Trainer"],
    "Pusher": ["ChampionResolver", "Evaluator", "ExampleGen", "Trainer", "Transform", "Tuner"],
}
GPU_NODES = {"Tuner", "Trainer"}  # the nodes that train models, on a GPU where there is one
