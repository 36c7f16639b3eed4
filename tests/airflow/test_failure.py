"""Unusable data stops the run early with one readable line, and nothing downstream runs.

- CSV files that cannot be ingested (empty, ragged, a repeated header, mixed headers) fail the
  `check_params` task, before any TFX node, naming the file, line and problem.
- A node that fails names itself and its reason in one line, and the teardown still runs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from retrain_support import csv_check

from tests import data_cases
from tests.airflow.conftest import AIRFLOW


def dag_test(data, tmp_path) -> str:
    env = dict(os.environ, RETRAIN_STATE_DIR=str(tmp_path / "state"), RETRAIN_RETRIES="0")
    out = subprocess.run(
        [AIRFLOW, "dags", "test", "retrain", "-c", json.dumps({"data": str(data)})],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out.stdout + out.stderr


INGESTION = {
    "empty_file": "data.csv: empty file (0 bytes)",
    "ragged_rows": "data.csv: line 32: 5 fields, the header has 8 (ragged row)",
    "repeated_header": "data.csv: line 42: repeats the header",
}


@pytest.mark.parametrize("case", sorted(INGESTION))
def test_csv_check_names_file_line_and_problem(case, tmp_path):
    _, good = data_cases.spans()
    data_cases.write(tmp_path, *data_cases.case_data(case, good))
    assert csv_check.check_folder(tmp_path) == [INGESTION[case]]


def test_csv_check_accepts_good_data_and_names_a_mixed_header(tmp_path):
    assert csv_check.check_folder(data_cases.PENGUINS.parent) == []
    header, body = data_cases.rows()
    data_cases.write(tmp_path, header, body[:20])
    (tmp_path / "z.csv").write_text("x,y,z\n1,2,3\n")
    [problem] = csv_check.check_folder(tmp_path)
    assert problem.startswith("z.csv: header ['x', 'y', 'z'] differs from data.csv's")


def test_ragged_csv_fails_before_any_node(tmp_path, airflow_db):
    header, body = data_cases.rows()
    data_cases.write(tmp_path / "data", *data_cases.case_data("ragged_rows", body))
    log = dag_test(tmp_path / "data", tmp_path)
    lines = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert lines, log[-5000:]
    assert "node check_params" in lines[0] and "(ragged row)" in lines[0], lines[0]
    assert "DATA ANOMALY: data.csv: line 32" in log
    assert "state=failed" in log
    assert "launching for pipeline run" not in log, "a TFX node ran"


def test_failing_node_names_itself_and_the_teardown_runs(tmp_path, airflow_db):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-0.tfrecord.gz").write_bytes(b"not a gzip file at all" * 10)
    log = dag_test(data, tmp_path)
    lines = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert lines, log[-5000:]
    assert "node ExampleGen" in lines[0], lines[0]
    assert "state=failed" in log
    # the teardown ran: the warm executor is stopped
    assert "[DAG TEST] end task task_id=stop_executor" in log
    assert '"node": "StatisticsGen"' not in log, "a node downstream of the failure ran"
