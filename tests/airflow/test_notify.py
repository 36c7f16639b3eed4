"""The webhook notifier (dags/retrain_support/notify.py) on a real HTTP server on loopback: what
the gate made of a registered model (promoted, kept as @challenger) in Slack's format, and a
webhook that cannot be reached, which is logged by its host only and fails nothing. The failed
and not-blessed events go through whole DAG runs (test_failure.py, test_mlflow_registry.py).
No DAG run here: about a second."""

from __future__ import annotations

import logging
from collections import defaultdict
from types import SimpleNamespace

from airflow.sdk import Asset
from retrain_support import notify

from tests.airflow.conftest import WEBHOOK_SECRET, free_port
from tests.airflow.http_sink import HttpSink

RUN = SimpleNamespace(dag_id="retrain", run_id="scheduled__2026-12-07")


def pushed(promotion: str, why: str = "") -> dict:
    return {
        "pushed": {
            "pushed": True,
            "model": "churn",
            "version": 7,
            "destination": "models:/churn/7",
            "reason": "",
            "promotion": promotion,
            "promotion_reason": why,
        }
    }


def announce(result: dict) -> dict:
    events = defaultdict(SimpleNamespace)
    asset = Asset(name="retrain_model", uri=notify.model_asset_uri("retrain"))
    extra = notify.announce(result, asset, events, RUN, {})
    assert events[asset].extra == extra
    return extra


def test_promoted_and_kept_as_challenger_reach_the_webhook(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="retrain")
    with HttpSink() as sink:
        monkeypatch.setenv("RETRAIN_NOTIFY_WEBHOOK", sink.url(f"/services/T/B/{WEBHOOK_SECRET}"))
        assert announce(pushed("champion"))["version"] == 7
        announce(pushed("challenger", "log loss 0.412 against the champion's 0.398"))
        announce(pushed(""))  # a Pusher that does not say: no promotion notice
    texts = [r["body"]["text"] for r in sink.requests]
    assert texts == [
        "[retrain] promoted: retrain run scheduled__2026-12-07: churn version 7 was promoted "
        "to @champion",
        "[retrain] challenger: retrain run scheduled__2026-12-07: churn version 7 is "
        "@challenger only, @champion unchanged (log loss 0.412 against the champion's 0.398)",
    ]
    assert {r["type"] for r in sink.requests} == {"application/json"}
    assert f"notified the webhook at http://127.0.0.1:{sink.port}/... (promoted): HTTP 200" in (
        caplog.text
    )
    assert WEBHOOK_SECRET not in caplog.text


def test_an_unreachable_or_malformed_webhook_is_logged_without_its_secret(caplog):
    port = free_port()  # nothing listens there
    assert notify.webhook(f"http://127.0.0.1:{port}/hook/{WEBHOOK_SECRET}", "failed", "x") is False
    assert notify.webhook(f"ftp-{WEBHOOK_SECRET}:x", "failed", "x") is False
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lines) == 2, lines
    assert f"to the webhook at http://127.0.0.1:{port}/...: cannot reach it" in lines[0], lines
    assert lines[1].endswith("webhook at (not an http(s) URL): not an http(s) URL"), lines
    assert WEBHOOK_SECRET.lower() not in caplog.text.lower()
    assert WEBHOOK_SECRET not in caplog.text
