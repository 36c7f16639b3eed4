"""The two lock files pin what the product promises, and share one MLflow version."""

from __future__ import annotations

import re

import pytest

from tests.airflow.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text()
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


@pytest.fixture(scope="module")
def tfx_lock():
    return pins("requirements.lock")


@pytest.fixture(scope="module")
def airflow_lock():
    return pins("requirements-airflow.lock")


def test_tfx_lock_pins_the_tfx_stack(tfx_lock):
    assert tfx_lock["tfx"] == "1.16.0"
    assert tfx_lock["tensorflow"] == "2.16.2"
    assert tfx_lock["keras-tuner"] == "1.4.7"
    assert tfx_lock["apache-beam"] == "2.59.0"
    assert int(tfx_lock["protobuf"].split(".")[0]) < 5
    assert int(tfx_lock["numpy"].split(".")[0]) < 2
    assert "pip" in tfx_lock, "pip must be locked: TFX pip-installs user-module wheels"


def test_airflow_lock_pins_airflow_3(airflow_lock):
    assert airflow_lock["apache-airflow"].startswith("3.3.")
    assert "tfx" not in airflow_lock and "tensorflow" not in airflow_lock


def test_one_mlflow_version_on_both_sides(tfx_lock, airflow_lock):
    assert tfx_lock["mlflow"] == airflow_lock["mlflow"]
    assert tfx_lock["mlflow-skinny"] == airflow_lock["mlflow-skinny"]


def test_every_lock_line_is_hashed():
    for lock in ("requirements.lock", "requirements-airflow.lock"):
        text = (REPO / lock).read_text()
        assert text.count("==") <= text.count("--hash=sha256:"), f"{lock} has unhashed pins"
