"""A node that fails names itself and its reason in one line, and the teardown still runs."""

from __future__ import annotations

import json
import os
import subprocess

from tests.airflow.conftest import AIRFLOW


def test_bad_data_fails_at_example_gen_with_one_readable_line(tmp_path, airflow_db):
    data = tmp_path / "data"
    data.mkdir()
    (data / "broken.csv").write_text("a,b\n1,2\n")
    (data / "other.csv").write_text("x,y,z\n1,2,3\n")  # headers differ: ExampleGen refuses
    env = dict(os.environ, RETRAIN_STATE_DIR=str(tmp_path / "state"), RETRAIN_RETRIES="0")
    out = subprocess.run(
        [AIRFLOW, "dags", "test", "retrain", "-c", json.dumps({"data": str(data)})],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = out.stdout + out.stderr
    lines = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert lines, log[-5000:]
    assert "node ExampleGen" in lines[0]
    assert "different header" in lines[0]
    assert "state=failed" in log
    # the teardown ran: the warm executor is stopped
    assert "[DAG TEST] end task task_id=stop_executor" in log
    assert '"node": "StatisticsGen"' not in log, "a node downstream of the failure ran"
