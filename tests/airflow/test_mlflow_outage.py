"""The MLflow server goes down while the Pusher runs: the task fails, Airflow retries it once the
server is back, and the registry ends with exactly one new version. The outage is injected into
the first of the shared DAG runs (conftest.registry_runs), which a second run then follows."""

from __future__ import annotations

from tests.airflow.conftest import FINISHED


def test_push_fails_during_an_outage_and_its_retry_registers_one_version(registry_runs):
    log = registry_runs["log1"]
    assert registry_runs["outage"] == ["stopped", "restarted"], log[-5000:]
    retried = [ln for ln in log.splitlines() if "RETRAIN RETRY: node Pusher" in ln]
    assert "failed on try 1 and will be retried" in retried[0], retried
    # the one line names the cause, not just "Traceback"
    assert "Traceback" not in retried[0] and (
        "Connection" in retried[0] or "Max retries" in retried[0] or "refused" in retried[0]
    ), retried[0]
    assert "RETRAIN FAILED" not in log
    found = FINISHED.findall(log)
    assert found and found[-1][1] == "success", log[-5000:]
    # one version after the retried push; the second run makes version 2 (test_mlflow_registry)
    assert registry_runs["versions1"] == ["1"], registry_runs["versions1"]
    assert registry_runs["aliases1"] == {"champion": "1", "challenger": "1"}
