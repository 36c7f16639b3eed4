"""Per-step containers: each TFX node as a KubernetesPodOperator or DockerOperator task.

Configured by one JSON object in `$RETRAIN_CONTAINERS` (deployment config, not a code edit):

    {"mode": "kubernetes",                      # or "docker"; absent/empty: nodes run locally
     "image": "retrain-pipeline:1.0",           # the pipeline image (docker/pipeline.Dockerfile)
     "gpu_image": "retrain-pipeline:1.0-gpu",   # for Tuner and Trainer (default: image)
     "gpus": 1,                                  # GPUs each of Tuner and Trainer asks for (0: none)
     "env": ["MLFLOW_TRACKING_URI", "RETRAIN_MLMD_URI"],  # passed through from Airflow's env
     "state_dir": "/state",                      # where the shared volume is mounted
     # kubernetes only
     "namespace": "retrain", "state_pvc": "retrain-state", "secret": "retrain-secrets",
     "resources": {"cpu": "2", "memory": "8Gi"},  # requests of every node
     # docker only
     "docker_url": "unix://var/run/docker.sock", "network": "retrain",
     "state_volume": "retrain_state",
     "secret_env": ["RETRAIN_MLMD_PASSWORD"]}   # from Airflow's env, never rendered or logged

Every container runs the same node-runner command line as a local task:
`python -m pipelines.run_node --run-id <run id> --node <node> --settings <checked settings>`.
Providers are imported only when a mode is set, so the default DAG parses as fast as before.
"""

from __future__ import annotations

import dataclasses
import json
import os

ENV = "RETRAIN_CONTAINERS"
MODES = ("kubernetes", "docker")
# The node runner's command line; settings come from check_params's XCom, run id from Airflow.
SETTINGS_TEMPLATE = "{{ ti.xcom_pull(task_ids='check_params') | tojson }}"


@dataclasses.dataclass(frozen=True)
class ContainerConfig:
    mode: str = ""
    image: str = ""
    gpu_image: str = ""
    gpus: int = 1
    env: tuple[str, ...] = ("MLFLOW_TRACKING_URI", "RETRAIN_MLMD_URI")
    state_dir: str = ""
    namespace: str = "default"
    state_pvc: str = ""
    secret: str = ""
    resources: dict = dataclasses.field(default_factory=dict)
    docker_url: str = "unix://var/run/docker.sock"
    network: str = ""
    state_volume: str = ""
    secret_env: tuple[str, ...] = ("RETRAIN_MLMD_PASSWORD",)

    @classmethod
    def from_env(cls, environ=os.environ) -> ContainerConfig:
        text = environ.get(ENV, "").strip()
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"${ENV} is not JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"${ENV} must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"${ENV}: unknown key(s) {unknown}; known: {sorted(known)}")
        for key in ("env", "secret_env"):
            if key in raw:
                raw[key] = tuple(raw[key])
        config = cls(**raw)
        problems = []
        if config.mode not in MODES:
            problems.append(f"mode={config.mode!r} is not one of {list(MODES)}")
        if not config.image:
            problems.append("image is required (the pipeline image, docker/pipeline.Dockerfile)")
        if not isinstance(config.gpus, int) or config.gpus < 0:
            problems.append(f"gpus={config.gpus!r} must be an integer >= 0")
        if config.state_dir and not os.path.isabs(config.state_dir):
            problems.append(f"state_dir={config.state_dir!r} must be an absolute path")
        if problems:
            raise ValueError(f"${ENV}: " + "; ".join(problems))
        return config

    @property
    def enabled(self) -> bool:
        return bool(self.mode)


def command(node: str) -> list[str]:
    return [
        "python",
        "-m",
        "pipelines.run_node",
        "--run-id",
        "{{ run_id }}",
        "--node",
        node,
        "--settings",
        SETTINGS_TEMPLATE,
    ]


def _passed_env(config: ContainerConfig, environ) -> dict[str, str]:
    env = {name: environ[name] for name in config.env if environ.get(name)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def node_operator(config: ContainerConfig, node: str, gpu: bool, environ=os.environ, **task_kw):
    """The operator that runs `node` in the pipeline image."""
    image = (config.gpu_image or config.image) if gpu else config.image
    gpus = config.gpus if gpu else 0
    env = _passed_env(config, environ)
    if config.mode == "kubernetes":
        return _pod(config, node, image, gpus, env, **task_kw)
    return _docker(config, node, image, gpus, env, environ, **task_kw)


def _pod(config: ContainerConfig, node: str, image: str, gpus: int, env: dict, **task_kw):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    limits = {"nvidia.com/gpu": str(gpus)} if gpus else None
    volumes, mounts = [], []
    if config.state_pvc:
        volumes.append(
            k8s.V1Volume(
                name="state",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name=config.state_pvc
                ),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="state", mount_path=config.state_dir or "/state"))
    return KubernetesPodOperator(
        name=f"retrain-{node.lower()}",
        namespace=config.namespace,
        image=image,
        cmds=command(node)[:1],
        arguments=command(node)[1:],
        env_vars=env,
        # Secrets come from a Kubernetes Secret, never through Airflow.
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=config.secret))]
        if config.secret
        else None,
        container_resources=k8s.V1ResourceRequirements(
            requests=dict(config.resources) or None, limits=limits
        ),
        volumes=volumes,
        volume_mounts=mounts,
        labels={"app": "retrain", "retrain-node": node.lower()},
        get_logs=True,
        on_finish_action="delete_succeeded_pod",
        **task_kw,
    )


def _docker(config, node: str, image: str, gpus: int, env: dict, environ, **task_kw):
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import DeviceRequest, Mount

    mounts = []
    if config.state_volume:
        mounts.append(
            Mount(source=config.state_volume, target=config.state_dir or "/state", type="volume")
        )
    return DockerOperator(
        image=image,
        command=command(node),
        environment=env,
        # Not templated, not shown in the UI: read from the scheduler's env at parse time.
        private_environment={n: environ[n] for n in config.secret_env if environ.get(n)},
        docker_url=config.docker_url,
        network_mode=config.network or None,
        mounts=mounts,
        device_requests=[DeviceRequest(count=gpus, capabilities=[["gpu"]])] if gpus else None,
        auto_remove="success",
        mount_tmp_dir=False,
        **task_kw,
    )
