"""Per-step containers: with $RETRAIN_CONTAINERS set, every TFX node of the DAG is a
KubernetesPodOperator or DockerOperator running the node-runner command in the pipeline image.
There is no cluster or Docker engine here, so the tests render the operators' specs (the pod a
KubernetesPodOperator would create, the container a DockerOperator would start) and inspect them.
"""

from __future__ import annotations

import json

import pytest

from core.topology import GPU_NODES
from tests.airflow.conftest import DAGS

SETTINGS = {"data": "data/penguins", "label": "species", "pipeline_root": "/state/pipeline_root"}
RUN_ID = "manual__2026-11-28T09:00:00+00:00"


class XComOf:
    """The one piece of a task instance the templates use: check_params's XCom."""

    def xcom_pull(self, task_ids=None, **_):
        assert task_ids == "check_params", task_ids
        return SETTINGS


def parse(monkeypatch, containers: str, **env):
    """The DAGs folder parsed with $RETRAIN_CONTAINERS (and `env`) set."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RETRAIN_CONTAINERS", containers)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return DagBag(dag_folder=str(DAGS))


def load_dag(monkeypatch, config: dict, **env):
    bag = parse(monkeypatch, json.dumps(config), **env)
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["retrain"]


def rendered(op):
    op.render_template_fields({"run_id": RUN_ID, "ti": XComOf()})
    return op


def node_argv(node: str) -> list[str]:
    return [
        "python",
        "-m",
        "pipelines.run_node",
        "--run-id",
        RUN_ID,
        "--node",
        node,
        "--settings",
        json.dumps(SETTINGS),
    ]


K8S = {
    "mode": "kubernetes",
    "image": "registry.example/retrain-pipeline:1.0",
    "gpu_image": "registry.example/retrain-pipeline:1.0-gpu",
    "gpus": 2,
    "namespace": "ml",
    "state_dir": "/state",
    "state_pvc": "retrain-state",
    "secret": "retrain-secrets",
    "resources": {"cpu": "2", "memory": "8Gi"},
}


def test_kubernetes_pods(monkeypatch):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    dag = load_dag(monkeypatch, K8S, MLFLOW_TRACKING_URI="http://mlflow:5000")
    nodes = [t for t in dag.tasks if t.task_id[0].isupper()]
    assert len(nodes) == 11, [t.task_id for t in nodes]
    for op in nodes:
        assert isinstance(op, KubernetesPodOperator), op.task_id
        pod = rendered(op).build_pod_request_obj(dry_run=True)
        (c,) = pod.spec.containers
        gpu = op.task_id in GPU_NODES
        assert c.image == K8S["gpu_image" if gpu else "image"], op.task_id
        assert [*c.command, *c.args] == node_argv(op.task_id)
        env = {e.name: e.value for e in c.env}
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert "RETRAIN_MLMD_PASSWORD" not in env
        assert c.env_from[0].secret_ref.name == "retrain-secrets"
        limits = c.resources.limits or {}
        assert limits.get("nvidia.com/gpu") == ("2" if gpu else None), op.task_id
        assert c.resources.requests == {"cpu": "2", "memory": "8Gi"}
        assert pod.metadata.namespace == "ml"
        assert c.volume_mounts[0].mount_path == "/state"
        assert pod.spec.volumes[0].persistent_volume_claim.claim_name == "retrain-state"
        assert op.pool == ("gpu" if gpu else "default_pool")
    # Upstream order is the pipeline's, and every node still waits for the checked settings.
    assert {t.task_id for t in dag.get_task("Tuner").upstream_list} == {
        "ChampionResolver",
        "StatisticsGen",
        "Transform",
        "check_params",
    }


def test_docker_containers(monkeypatch):
    from airflow.providers.docker.operators.docker import DockerOperator

    config = {
        "mode": "docker",
        "image": "retrain-pipeline:1.0",
        "gpu_image": "retrain-pipeline:1.0-gpu",
        "network": "retrain",
        "state_volume": "retrain_state",
        "state_dir": "/state",
    }
    dag = load_dag(
        monkeypatch,
        config,
        MLFLOW_TRACKING_URI="http://mlflow:5000",
        RETRAIN_MLMD_PASSWORD="s3cret",
    )
    for node in ("ExampleGen", "Tuner", "Trainer", "Pusher"):
        op = rendered(dag.get_task(node))
        gpu = node in GPU_NODES
        assert isinstance(op, DockerOperator)
        assert op.image == config["gpu_image" if gpu else "image"]
        assert op.command == node_argv(node)
        assert op.environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        # The password travels outside the templated, UI-visible environment.
        assert "RETRAIN_MLMD_PASSWORD" not in op.environment
        assert op._private_environment == {"RETRAIN_MLMD_PASSWORD": "s3cret"}
        assert op.network_mode == "retrain"
        assert op.mounts[0]["Target"] == "/state" and op.mounts[0]["Source"] == "retrain_state"
        if gpu:
            (req,) = op.device_requests
            assert req.count == 1 and req.capabilities == [["gpu"]]
        else:
            assert not op.device_requests


def test_settings_point_into_the_shared_volume(monkeypatch):
    # check_params hands the nodes paths as the containers see them: under state_dir.
    dag = load_dag(monkeypatch, K8S)
    check = dag.get_task("check_params")
    pipeline_settings = check.python_callable.__globals__["pipeline_settings"]
    settings = pipeline_settings({k: dag.params[k] for k in dag.params}, "retrain", RUN_ID)
    assert settings["pipeline_root"] == "/state/pipeline_root"
    assert settings["metadata_path"] == "/state/metadata.sqlite"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"mode": "swarm", "image": "x"}, "mode='swarm' is not one of"),
        ({"mode": "docker"}, "image is required"),
        ({"mode": "docker", "image": "x", "gpus": -1}, "gpus=-1"),
        ({"mode": "docker", "image": "x", "imag": "y"}, "unknown key(s) ['imag']"),
        ({"mode": "docker", "image": "x", "state_dir": "state"}, "must be an absolute path"),
    ],
)
def test_bad_config_is_named(monkeypatch, config, message):
    bag = parse(monkeypatch, json.dumps(config))
    errors = "\n".join(bag.import_errors.values())
    assert "RETRAIN_CONTAINERS" in errors and message in errors, errors


def test_not_json_is_named(monkeypatch):
    bag = parse(monkeypatch, "{mode: docker")
    assert "$RETRAIN_CONTAINERS is not JSON" in "\n".join(bag.import_errors.values())
