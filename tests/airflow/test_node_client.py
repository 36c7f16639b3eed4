"""Both ways an Airflow task runs a node: a fresh process, and the warm executor, plus the
fallback to a fresh process when the executor is gone."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
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
    with pytest.raises(node_client.NodeFailed, match="no node 'NoSuchNode'") as err:
        run(settings, "NoSuchNode")
    # a bad argument (status 2) cannot heal: Airflow must not retry it
    assert isinstance(err.value, AirflowFailException), err.value


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


def fake_runner(tmp_path, status: int, *lines: str) -> str:
    """A stand-in for the TFX interpreter: prints `lines`, exits with `status`."""
    fake = tmp_path / "python"
    body = "".join(f"cat <<'EOF'\n{line}\nEOF\n" for line in lines)
    fake.write_text(f"#!/bin/sh\n{body}exit {status}\n")
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize(
    "status, reported, permanent",
    [
        (4, "RETRAIN ERROR permanent: TypeError: Expected int64, got '' of type 'str'", True),
        (2, "RETRAIN ERROR permanent: bad settings: unknown setting(s) ['nas']", True),
        (
            1,
            "RETRAIN ERROR transient: MlflowException: API request: Connection refused",
            False,
        ),
        (3, "RETRAIN ERROR transient: node Tuner of pipeline run r is already running", False),
    ],
)
def test_exit_status_decides_retry_or_fail_at_once(tmp_path, status, reported, permanent):
    """Permanent statuses raise Airflow's non-retryable exception; the others NodeFailed, which
    Airflow retries. The message is the runner's own RETRAIN ERROR line, whatever follows it."""
    python = fake_runner(
        tmp_path,
        status,
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "SomeError: the traceback's own line",
        reported,
        "WARNING:absl:Error: a warning printed at exit",
    )
    with pytest.raises(node_client.NodeFailed) as err:
        node_client.run_node(python, REPO, ["--node", "Transform"], None, lambda _: None)
    why = reported.split(": ", 1)[1]
    assert isinstance(err.value, AirflowFailException) is permanent
    assert isinstance(err.value, node_client.NodeFailedPermanently) is permanent
    if permanent:
        assert str(err.value) == f"exit status {status} (permanent, not retried): {why}"
    else:
        assert str(err.value) == f"exit status {status}: {why}"


def test_a_killed_node_is_retried(tmp_path):
    """Killed (the warm executor reports 128 + signal; a fresh process a negative status)."""
    python = fake_runner(tmp_path, 137, "node process 7 was killed by signal 9")
    with pytest.raises(node_client.NodeFailed, match="exit status 137") as err:
        node_client.run_node(python, REPO, ["--node", "Tuner"], None, lambda _: None)
    assert not isinstance(err.value, AirflowFailException)
    killed = tmp_path / "killed"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")
    killed.chmod(0o755)
    with pytest.raises(node_client.NodeFailed, match="exit status -9") as err:
        node_client.run_node(str(killed), REPO, ["--node", "Tuner"], None, lambda _: None)
    assert not isinstance(err.value, AirflowFailException)
