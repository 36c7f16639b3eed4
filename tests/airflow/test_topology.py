"""The DAG's wiring matches the compiled TFX pipeline, and its task settings are what we promise."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.airflow.conftest import TFX_PYTHON
from tests.commands import last_json


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow.conftest import DAGS

    b = DagBag(dag_folder=str(DAGS))
    assert b.import_errors == {}
    return b


@pytest.fixture(scope="module")
def compiled_topology(tmp_path_factory):
    root = tmp_path_factory.mktemp("topology")
    settings = {"pipeline_root": str(root / "root"), "metadata_path": str(root / "m.sqlite")}
    return last_json(
        [TFX_PYTHON, "-m", "pipelines.run_node", "--topology", "--settings", json.dumps(settings)],
        timeout=600,
    )


def dag_topology(dag, nodes) -> dict[str, list[str]]:
    return {
        node: sorted(t for t in dag.get_task(node).upstream_task_ids if t in nodes)
        for node in nodes
    }


@pytest.mark.parametrize(
    "dag_id", ["retrain", "retrain_on_data", "retrain_penguins", "retrain_diabetes_on_data"]
)
def test_dag_topology_equals_pipeline_topology(bag, compiled_topology, dag_id):
    """The generic DAGs and each dataset's (datasets/NAME.json) share one builder."""
    dag = bag.dags[dag_id]
    assert set(compiled_topology) <= set(dag.task_ids), "a pipeline node has no task"
    assert dag_topology(dag, compiled_topology) == compiled_topology


def test_topology_check_catches_a_missing_edge(bag, compiled_topology):
    dag = bag.dags["retrain"]
    drifted = {k: list(v) for k, v in compiled_topology.items()}
    drifted["Trainer"].remove("Tuner")
    assert dag_topology(dag, drifted) != drifted


def test_gpu_nodes_use_the_gpu_pool_and_others_do_not(bag):
    dag = bag.dags["retrain"]
    assert dag.get_task("Tuner").pool == "gpu"
    assert dag.get_task("Trainer").pool == "gpu"
    assert dag.get_task("Transform").pool == "default_pool"


def test_retries_back_off_exponentially(bag):
    task = bag.dags["retrain"].get_task("Transform")
    assert task.retries >= 1
    assert task.retry_exponential_backoff >= 2.0
    assert task.retry_delay == timedelta(seconds=30)
    assert task.on_failure_callback


def test_schedules(bag):
    assert bag.dags["retrain"].timetable.expression in ("@weekly", "0 0 * * 0")
    on_data = bag.dags["retrain_on_data"]
    assert "retrain_data" in str(on_data.timetable.asset_condition)


def test_executor_is_a_setup_and_its_stop_a_teardown(bag):
    dag = bag.dags["retrain"]
    assert dag.get_task("start_executor").is_setup
    assert dag.get_task("stop_executor").is_teardown
