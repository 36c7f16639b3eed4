"""Both ways an Airflow task runs a node: a fresh process, and the warm executor, plus the
fallback to a fresh process when the executor is gone."""

from __future__ import annotations

import pytest
from retrain_support import node_client

from tests.airflow.conftest import REPO, TFX_PYTHON


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    state = tmp_path_factory.mktemp("node-client")
    return {
        "pipeline_root": str(state / "pipeline_root"),
        "metadata_path": str(state / "metadata.sqlite"),
    }


def run(settings, node, socket=None, run_id="run-1"):
    lines: list[str] = []
    result = node_client.run_node(
        TFX_PYTHON, REPO, node_client.node_argv(run_id, node, settings), socket, lines.append
    )
    return result, lines


def test_fresh_process_runs_a_node(settings):
    result, lines = run(settings, "ExampleGen")
    assert result == {
        "node": "ExampleGen",
        "run_id": "run-1",
        "state": "COMPLETE",
        "execution_id": result["execution_id"],
    }
    assert any("RESULT" in ln for ln in lines)


def test_warm_executor_runs_the_next_node_and_stops(settings, tmp_path):
    path = node_client.socket_path("test", str(tmp_path))
    node_client.start_executor(TFX_PYTHON, REPO, path)
    try:
        assert node_client.executor_alive(path)
        result, lines = run(settings, "StatisticsGen", socket=path)
        assert result["state"] == "COMPLETE"
        assert result["node"] == "StatisticsGen"
    finally:
        node_client.stop_executor(path)
    assert not node_client.executor_alive(path)


def test_missing_executor_falls_back_to_a_fresh_process(settings, tmp_path):
    result, _ = run(settings, "SchemaGen", socket=str(tmp_path / "gone.sock"))
    assert result["state"] == "COMPLETE"


def test_failed_node_raises_with_its_own_error(settings):
    with pytest.raises(node_client.NodeFailed, match="no node 'NoSuchNode'"):
        run(settings, "NoSuchNode")


def test_idle_executor_stops_by_itself(tmp_path, monkeypatch):
    """An executor whose DAG run died before the teardown does not linger."""
    import time

    monkeypatch.setenv("RETRAIN_EXECUTOR_IDLE_S", "3")
    path = node_client.socket_path("test-idle", str(tmp_path))
    node_client.start_executor(TFX_PYTHON, REPO, path)
    deadline = time.monotonic() + 60
    while node_client.executor_alive(path) and time.monotonic() < deadline:
        time.sleep(1)
    assert not node_client.executor_alive(path)


def test_a_failure_is_named_by_its_exception_line_not_by_traceback(tmp_path):
    """The task's one-line reason is the exception after a traceback's frames."""
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'INFO launching'\n"
        "echo 'Traceback (most recent call last):'\n"
        "echo '  File \"x.py\", line 1, in <module>'\n"
        "echo '    push()'\n"
        "echo 'mlflow.exceptions.MlflowException: API request failed: Connection refused'\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    with pytest.raises(node_client.NodeFailed) as err:
        node_client.run_node(str(fake), REPO, ["--node", "Pusher"], None, lambda _: None)
    assert str(err.value) == (
        "exit status 1: mlflow.exceptions.MlflowException: API request failed: Connection refused"
    )
