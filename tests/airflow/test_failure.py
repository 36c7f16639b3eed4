"""Unusable data stops the run early with one readable line, and nothing downstream runs.

- CSV files that cannot be ingested (empty, ragged, a repeated header, mixed headers, not UTF-8
  text, no such label column) fail the `check_params` task, before any TFX node, naming the
  file, line and problem.
- A node that fails for a reason a retry cannot heal (a corrupt TFRecord) fails in one try,
  with the default retries: it names itself and its reason in one line, nothing is retried,
  and the teardown still runs."""

from __future__ import annotations

import gzip
import os
import struct

import pytest
from retrain_support import csv_check

from core import tfrecord
from tests import data_cases
from tests.airflow.conftest import WEBHOOK_SECRET
from tests.airflow.http_sink import HttpSink
from tests.airflow.smtp_sink import SmtpSink
from tests.commands import dags_test


def dag_test(data, tmp_path, **extra) -> str:
    # The DAG's own retries (RETRAIN_RETRIES unset): what fails at once must not be retried.
    env = dict(os.environ, RETRAIN_STATE_DIR=str(tmp_path / "state"), **extra)
    env.pop("RETRAIN_RETRIES", None)
    return dags_test("retrain", {"data": str(data)}, env, timeout=900)


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


@pytest.mark.parametrize("case", sorted(data_cases.REFUSED_CASES))
def test_csv_check_names_a_label_that_is_not_a_column(case, tmp_path):
    _, good = data_cases.spans()
    data_cases.write(tmp_path, *data_cases.case_data(case, good))
    problem = csv_check.check_label(tmp_path, "species")
    assert problem.startswith(data_cases.REFUSED_CASES[case] + "data.csv (columns: "), problem
    assert csv_check.check_label(data_cases.PENGUINS.parent, "species") is None


def test_csv_check_names_a_file_that_is_not_utf8_and_a_parquet_that_is_not(tmp_path):
    (tmp_path / "data.csv").write_bytes(b"x,y\n1,2\ncaf\xe9,1\n")
    assert csv_check.check_folder(tmp_path) == [
        "data.csv: not UTF-8 text: byte 0xe9 at byte offset 11 (line 3); save the file as UTF-8"
    ]
    (tmp_path / "data.csv").unlink()
    (tmp_path / "part-0.parquet").write_text("x,y\n1,2\n")
    assert csv_check.check_folder(tmp_path) == [
        "part-0.parquet: not a Parquet file (no PAR1 magic bytes at its start and end)"
    ]


def test_ragged_csv_fails_before_any_node(tmp_path, airflow_db):
    """...and people are told: the failure notifier's line, an email through Airflow's SMTP
    provider to a real SMTP server, and a POST to a webhook on a real HTTP server
    (dags/retrain_support/notify.py), whose URL's secret is never logged."""
    header, body = data_cases.rows()
    data_cases.write(tmp_path / "data", *data_cases.case_data("ragged_rows", body))
    with SmtpSink() as sink, HttpSink() as hooks:
        log = dag_test(
            tmp_path / "data",
            tmp_path,
            RETRAIN_NOTIFY_EMAIL="ops@example.com",
            RETRAIN_NOTIFY_SMTP_CONN="retrain_smtp",
            AIRFLOW_CONN_RETRAIN_SMTP=sink.connection(),
            RETRAIN_NOTIFY_WEBHOOK=hooks.url(f"/services/T0/B0/{WEBHOOK_SECRET}"),
        )
    lines = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert lines, log[-5000:]
    assert "node check_params" in lines[0] and "(ragged row)" in lines[0], lines[0]
    assert "DATA ANOMALY: data.csv: line 32" in log
    assert "state=failed" in log
    assert "launching for pipeline run" not in log, "a TFX node ran"
    [told] = [ln for ln in log.splitlines() if "RETRAIN NOTIFY failed:" in ln]
    assert "node check_params of retrain run " in told and "(ragged row)" in told, told
    [mail] = sink.messages
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"].startswith("[retrain] failed: node check_params of retrain run ")
    text = "".join(p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart())
    assert "(ragged row)" in text, text
    [hook] = hooks.requests
    text = hook["body"]["text"]
    assert text.startswith("[retrain] failed: node check_params of retrain run "), hook
    assert "(ragged row)" in text and text.split("failed: ", 1)[1] in told, (text, told)
    assert WEBHOOK_SECRET not in log


def bad_checksum_tfrecord(path) -> None:
    """A gzipped TFRecord of tf.Examples whose last record's payload no longer matches its
    checksum (one float changed): it looks like data, and ExampleGen's reader rejects it."""
    # Enough rows of two labels that the compile-time checks pass (a one-value label, or too
    # few rows to judge, is refused before ExampleGen): the corruption is ExampleGen's to find.
    species = (b"Adelie", b"Gentoo")
    rows = [{"species": ("bytes", [species[i % 2]]), "x": ("float", [i, 1.5])} for i in range(400)]
    plain = path.with_suffix(".plain")
    tfrecord.write(str(plain), rows)
    raw = bytearray(plain.read_bytes())
    plain.unlink()
    at = raw.rindex(struct.pack("<f", 1.5))
    raw[at : at + 4] = struct.pack("<f", 1.75)
    path.write_bytes(gzip.compress(bytes(raw)))


# One DAG run (a minute of CI's time); a file that is not gzip at all is classified the same way
# (tests/pipeline/test_failures.py).
@pytest.mark.parametrize("corruption", ["bad_checksum"])
def test_corrupt_tfrecord_fails_in_one_try_names_itself_and_the_teardown_runs(
    corruption, tmp_path, airflow_db
):
    data = tmp_path / "data"
    data.mkdir()
    if corruption == "not_gzip":
        (data / "part-0.tfrecord.gz").write_bytes(b"not a gzip file at all" * 10)
    else:
        bad_checksum_tfrecord(data / "part-0.tfrecord.gz")
    log = dag_test(data, tmp_path)
    lines = [ln for ln in log.splitlines() if "RETRAIN FAILED" in ln]
    assert lines, log[-5000:]
    assert "node ExampleGen" in lines[0], lines[0]
    # one try, failed at once with its one readable line; no retry
    assert "(try 1): exit status 4 (permanent, not retried): " in lines[0], lines[0]
    assert "Traceback" not in lines[0], lines[0]
    assert log.count("[DAG TEST] starting task_id=ExampleGen ") == 1, log[-5000:]
    assert "RETRAIN RETRY" not in log, log[-5000:]
    assert "RETRAIN ERROR permanent: " in log
    assert "state=failed" in log
    # the teardown ran: the warm executor is stopped
    assert "[DAG TEST] end task task_id=stop_executor" in log
    assert '"node": "StatisticsGen"' not in log, "a node downstream of the failure ran"
