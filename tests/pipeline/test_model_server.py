"""The model server a deploy starts (serving/model_server.py: MLflow's scoring server app in one
Python) and the deploy's smoke test (serving/smoke.py), on the real pyfunc that test_serving
logs through the pusher's own code path, in this (the TFX) environment."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core import envs
from tests.pipeline.test_serving import served  # noqa: F401 (the module's fixture, reused)

pytest.importorskip("tensorflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model(served, tmp_path_factory) -> Path:  # noqa: F811 (the fixture imported above)
    """The logged model, its input example without the row whose PNG is missing: MLflow 3.17's
    reader of an input example (Model.load_input_example) fails on a missing binary value
    ("encoding without a string argument"), and so does its scoring server on such a row."""
    local = tmp_path_factory.mktemp("model") / "model"
    shutil.copytree(served.logged, local)
    example = json.loads((local / "input_example.json").read_text())
    photo = example["columns"].index("photo")
    example["data"] = [row for row in example["data"] if row[photo] is not None]
    (local / "input_example.json").write_text(json.dumps(example))
    return local


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """`python -m serving.model_server` on the model, on a free port; its URL at once (it is
    still loading)."""
    port = free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "serving.model_server", "--model-uri", str(model)]
            + ["--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=envs.REPO,
            env=dict(os.environ, PYTHONPATH=str(envs.REPO)),
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def test_the_smoke_test_waits_for_the_loading_server_and_agrees_with_the_pyfunc(model, server):
    from serving import smoke

    url, proc, log = server
    verdict = smoke.check(str(model), url, 3, wait_s=600)
    assert verdict["ok"], (verdict["why"], log.read_text()[-2000:])
    assert verdict["rows"] == 3 and len(verdict["served"]) == 3
    assert {"in_process_s", "waited_s"} <= verdict.keys()
    # It is MLflow's scoring server: its /version is this MLflow's, its /health answers.
    import mlflow

    with urllib.request.urlopen(f"{url}/version", timeout=30) as answer:
        assert answer.read().decode() == mlflow.__version__
    with urllib.request.urlopen(f"{url}/health", timeout=30) as answer:
        assert answer.status == 200
    assert proc.poll() is None


def test_the_smoke_test_fails_a_server_that_never_answers(model):
    from serving import smoke

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    verdict = smoke.check(str(model), url, 3, wait_s=2)
    assert not verdict["ok"]
    assert verdict["why"] == "the model server did not answer /ping in 2 s"
