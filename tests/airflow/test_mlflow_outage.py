"""The MLflow server goes down while the Pusher runs: the task fails, Airflow retries it once the
server is back, and the registry ends with exactly one new version."""

from __future__ import annotations

import json
import os
import subprocess
import threading

from tests.airflow.conftest import AIRFLOW, FINISHED, NAME, free_port, start_server, stop_server


def test_push_fails_during_an_outage_and_its_retry_registers_one_version(
    airflow_db,
    sample,
    tmp_path,
):
    from mlflow import MlflowClient

    root = tmp_path / "mlflow"
    root.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(root, port)
    env = dict(
        os.environ,
        RETRAIN_STATE_DIR=str(tmp_path / "state"),
        MLFLOW_TRACKING_URI=uri,
        RETRAIN_RETRIES="3",
        RETRAIN_RETRY_DELAY_S="10",
        # Fail fast while the server is down instead of MLflow's default minutes of backoff.
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
        MLFLOW_HTTP_REQUEST_TIMEOUT="20",
        PYTHONUNBUFFERED="1",
    )
    conf = {"data": str(sample), "epochs": 5, "max_trials": 1}
    run = subprocess.Popen(
        [AIRFLOW, "dags", "test", "retrain", "-c", json.dumps(conf)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(1500, run.kill)
    watchdog.start()
    lines, events = [], []
    try:
        for line in run.stdout:
            lines.append(line)
            if not events and "node Pusher: launching" in line:
                stop_server(server)  # the outage starts as the push starts
                events.append("stopped")
            elif events == ["stopped"] and "RETRAIN RETRY: node Pusher" in line:
                server = start_server(root, port)  # back before Airflow's retry
                events.append("restarted")
        run.wait(60)
    finally:
        watchdog.cancel()
        if events == ["stopped"]:
            server = start_server(root, port)
    log = "".join(lines)
    try:
        assert events == ["stopped", "restarted"], log[-5000:]
        retried = [ln for ln in log.splitlines() if "RETRAIN RETRY: node Pusher" in ln]
        assert "failed on try 1 and will be retried" in retried[0], retried
        # the one line names the cause, not just "Traceback"
        assert "Traceback" not in retried[0] and (
            "Connection" in retried[0] or "Max retries" in retried[0] or "refused" in retried[0]
        ), retried[0]
        assert "RETRAIN FAILED" not in log
        found = FINISHED.findall(log)
        assert found and found[-1][1] == "success", log[-5000:]
        client = MlflowClient(uri, registry_uri=uri)
        versions = client.search_model_versions(f"name = '{NAME}'")
        assert [v.version for v in versions] == ["1"], versions
        aliases = client.get_registered_model(NAME).aliases
        assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "1"}
    finally:
        stop_server(server)
