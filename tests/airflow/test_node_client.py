"""Both ways an Airflow task runs a node: a fresh process, and the warm executor, plus the
fallback to a fresh process when the executor is gone."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from retrain_support import node_client

from core import processes, waiting
from tests.airflow.conftest import REPO, TFX_PYTHON

HANG = re.compile(r"RETRAIN TEST HANG pid (\d+) sleeper (\d+)")


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
        "peak_rss_mb": result["peak_rss_mb"],
    }
    assert result["peak_rss_mb"] > 50  # the node's process tree, TFX imported
    assert any("RESULT" in ln for ln in lines)


def hung(lines) -> list[int]:
    """The pids a hanging node printed (core/processes.hang_for_test): itself, its sleeper."""
    found = [HANG.search(ln) for ln in lines]
    return [int(g) for m in found if m for g in m.groups()]


CALLER = """
import sys
from retrain_support import node_client
node_client.run_node(sys.argv[1], sys.argv[2], sys.argv[3:], sys.argv[0] or None,
                     lambda line: print(line, flush=True))
"""


def caller(python: str, argv: list[str], socket: str = "") -> subprocess.Popen:
    """An Airflow-side process running one node (as a node task does), to be killed."""
    code = CALLER.replace("sys.argv[0] or None", repr(socket or None))
    return subprocess.Popen(
        [sys.executable, "-c", code, python, str(REPO), *argv],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=f"{REPO / 'dags'}:{REPO}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def killed_mid_node(proc: subprocess.Popen) -> list[int]:
    """Reads `proc` until its node hangs, kill -9s it; the node's pids."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if hung([line]):
            break
    pids = hung(lines)
    proc.kill()
    proc.wait()
    assert len(pids) == 2, "".join(lines)[-3000:]
    return pids


def test_warm_executor_runs_the_next_node_and_stops(settings, tmp_path, monkeypatch):
    """One executor for the warm path's checks: it runs a node; a node over its time limit,
    a node whose caller is killed and a node running at `stop` all end with their process
    group; it holds no Airflow secret; its socket folder is private and its log goes."""
    monkeypatch.setenv("RETRAIN_TEST_HANG_NODE", "SchemaGen")
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_DB", "postgresql://u:Sentinel@db/x")
    path = node_client.socket_path("test", str(tmp_path))
    folder = Path(path).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
    pid = node_client.start_executor(TFX_PYTHON, REPO, path)
    pids: list[int] = []
    try:
        assert node_client.executor_alive(path)
        environ = processes.environment(pid)
        assert not [e for e in environ if e.startswith("AIRFLOW_CONN_")]
        assert environ["RETRAIN_TEST_HANG_NODE"] == "SchemaGen"
        result, lines = run(settings, "StatisticsGen", socket=path)
        assert result["state"] == "COMPLETE"
        assert result["node"] == "StatisticsGen"

        lines = []
        with pytest.raises(node_client.NodeTimedOut, match="timed out after 30 s") as err:
            node_client.run_node(
                TFX_PYTHON,
                REPO,
                node_client.node_argv("run-1", "SchemaGen", settings),
                path,
                lines.append,
                timeout_s=30,
            )
        assert not isinstance(err.value, AirflowFailException)  # retried
        pids = hung(lines)
        assert len(pids) == 2, lines[-20:]
        assert processes.wait_gone(pids) == []

        argv = node_client.node_argv("run-2", "SchemaGen", settings)
        assert processes.wait_gone(killed_mid_node(caller(TFX_PYTHON, argv, path))) == []

        stuck = caller(TFX_PYTHON, node_client.node_argv("run-3", "SchemaGen", settings), path)
        for line in stuck.stdout:
            pids = hung([line])
            if pids:
                break
    finally:
        node_client.stop_executor(path)
    assert not node_client.executor_alive(path)
    assert len(pids) == 2 and processes.wait_gone(pids) == []
    stuck.communicate(timeout=60)
    assert stuck.returncode != 0
    assert not Path(path).with_suffix(".log").exists()


FAKE_NODE = f"""#!{sys.executable}
import os, sys
sys.path.insert(0, {str(REPO)!r})
from core import processes
processes.end_group_on_sigterm()
os.environ["RETRAIN_TEST_HANG_NODE"] = "X"
processes.hang_for_test("X")
"""


def test_a_fresh_node_over_its_time_limit_or_orphaned_ends_with_its_group(tmp_path):
    """The fresh-process path: past the limit the group is killed; when the caller is killed,
    the node (and what it started) goes with it."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_NODE)
    fake.chmod(0o755)
    lines = []
    with pytest.raises(node_client.NodeTimedOut, match="timed out after 5 s"):
        node_client.run_node(str(fake), REPO, ["--node", "X"], None, lines.append, timeout_s=5)
    pids = hung(lines)
    assert len(pids) == 2, lines
    assert processes.wait_gone(pids) == []
    assert processes.wait_gone(killed_mid_node(caller(str(fake), ["--node", "X"]))) == []


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

    monkeypatch.setenv("RETRAIN_EXECUTOR_IDLE_S", "3")
    path = node_client.socket_path("test-idle", str(tmp_path))
    node_client.start_executor(TFX_PYTHON, REPO, path)
    waiting.wait_until(lambda: not node_client.executor_alive(path), 60, what="its idle stop")
    log = Path(path).with_suffix(".log")
    waiting.wait_until(lambda: not log.exists(), 10, every_s=0.2, what="its log's removal")


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
