"""People are told what happened to a run: a node that failed for good, and what the gate made
of the new model: promoted to @champion, kept as @challenger, or NOT BLESSED (the run itself
ends green); with promotion `approval`, a version awaiting sign-off, rejected, or not answered
in time (signoff.py). Each event is one line in the task log, `RETRAIN NOTIFY <event>: <what
happened>`, and, where the deployment names them:

- an email through Airflow's SMTP provider:
  - `RETRAIN_NOTIFY_EMAIL`: comma-separated addresses (empty: no email);
  - `RETRAIN_NOTIFY_SMTP_CONN`: the Airflow Connection of the SMTP server (default
    `smtp_default`), e.g. `AIRFLOW_CONN_SMTP_DEFAULT='{"conn_type": "smtp", "host": ...}'`;
  - `RETRAIN_NOTIFY_FROM`: the sender (default `retrain@<hostname>`);
- a POST of `{"text": "[retrain] <event>: <what happened>"}` to an incoming webhook (Slack's
  format; Mattermost, Rocket.Chat and Teams' Slack-compatible hooks read it too): the operator
  setting `notify_webhook`, from `RETRAIN_NOTIFY_WEBHOOK` (core/operator_settings.py). Its URL
  usually holds the secret, so it is masked in Airflow's task logs and never written out: the
  log names the webhook by its scheme and host only.

A notification that cannot be sent is logged and never fails the task it reports on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from airflow.sdk import BaseNotifier

log = logging.getLogger("retrain")

FAILED, NOT_BLESSED = "failed", "not-blessed"
PROMOTED, CHALLENGER = "promoted", "challenger"
DEPLOY_FAILED = "deploy-failed"  # dags/deploy_new_model.py: a smoke test failed
# The sign_off task (signoff.py): a version awaits a person, who rejected it, or nobody answered.
AWAITING, REJECTED, SIGNOFF_TIMEOUT = "awaiting-sign-off", "rejected", "sign-off-timeout"
WEBHOOK_TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True)
class Target:
    """Where notifications go, from the deployment's environment."""

    email: tuple[str, ...]
    smtp_conn_id: str
    sender: str
    webhook: str = dataclasses.field(default="", repr=False)  # a secret

    @classmethod
    def from_env(cls) -> Target:
        from retrain_support.builder import contract  # the repository on sys.path

        env = os.environ
        to = tuple(a.strip() for a in env.get("RETRAIN_NOTIFY_EMAIL", "").split(",") if a.strip())
        return cls(
            email=to,
            smtp_conn_id=env.get("RETRAIN_NOTIFY_SMTP_CONN", "smtp_default"),
            sender=env.get("RETRAIN_NOTIFY_FROM", f"retrain@{socket.gethostname()}"),
            webhook=contract.SETTINGS["notify_webhook"].default_value(),
        )


def send(event: str, message: str, context) -> None:
    """The log line, then the email and the webhook where the deployment sets them."""
    log.warning("RETRAIN NOTIFY %s: %s", event, message)
    target = Target.from_env()
    if target.webhook:
        webhook(target.webhook, event, message)
    if not target.email:
        return
    try:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(
            to=list(target.email),
            from_email=target.sender,
            subject=f"[retrain] {event}: {message[:120]}",
            html_content=f"<p>{_escape(message)}</p>",
            smtp_conn_id=target.smtp_conn_id,
        ).notify(context)
        log.info("notified %s by email (%s)", ", ".join(target.email), event)
    except Exception as e:  # noqa: BLE001 (a lost email must not fail the run)
        log.error("could not send the %s notification by email: %s", event, e)


def shown(url: str) -> str:
    """A webhook as it may be logged: its scheme and host, never its path or query (the
    secret)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "(not an http(s) URL)"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":?"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/..."


def webhook(url: str, event: str, message: str) -> bool:
    """POSTs `{"text": ...}` (Slack's incoming-webhook format) to `url`; whether it was taken
    (HTTP 2xx). Failures are logged with the webhook's host only."""
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(url)
    except Exception:  # noqa: BLE001 (outside a task: nothing to mask)
        pass
    where = shown(url)
    body = json.dumps({"text": f"[retrain] {event}: {message}"}).encode()
    try:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("not an http(s) URL")
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
            log.info("notified the webhook at %s (%s): HTTP %s", where, event, answer.status)
            return True
    except urllib.error.HTTPError as e:
        why = f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:
        why = f"cannot reach it ({type(e.reason).__name__}: {getattr(e.reason, 'strerror', '')})"
    except ValueError:  # its message would hold the URL
        why = "not an http(s) URL"
    except OSError as e:  # a timeout
        why = f"{type(e).__name__}: {e}"
    log.error("could not send the %s notification to the webhook at %s: %s", event, where, why)
    return False


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def exception_line(context) -> str:
    """The last line of the task's exception: its one-line reason (builder's RETRAIN FAILED and
    RETRAIN RETRY lines, and the failure notice)."""
    why = str(context.get("exception") or "unknown error").strip().splitlines()
    return why[-1] if why else "unknown error"


class RunNotifier(BaseNotifier):
    """The failure notifier of every retraining task (its on_failure_callback): who failed,
    in which run, and why in one line."""

    def notify(self, context) -> None:
        ti = context["ti"]
        send(
            FAILED,
            f"node {ti.task_id} of {ti.dag_id} run {ti.run_id} failed on try {ti.try_number}: "
            f"{exception_line(context)}",
            context,
        )


def model_asset_uri(dag_id: str) -> str:
    """The URI of the Asset a DAG's Pusher updates when it registers a version."""
    return f"mlflow-model://{dag_id}"


def announce(result: dict | None, asset, outlet_events, dag_run, context) -> dict:
    """After the Pusher: a registered version updates the DAG's model Asset, its `extra`
    holding the model, version and where it is, so a downstream DAG scheduled on the Asset can
    deploy it, and people are told whether it was promoted or kept as @challenger (the Pusher's
    `promotion`); NOT BLESSED is notified instead and raises AirflowSkipException (a skipped task
    updates no Asset)."""
    from airflow.sdk.exceptions import AirflowSkipException

    pushed = (result or {}).get("pushed")
    if not pushed:  # per-step containers return no result to read
        raise AirflowSkipException("the Pusher returned no outcome: no Asset event")
    run = f"{dag_run.dag_id} run {dag_run.run_id}"
    if not pushed["pushed"]:
        send(
            NOT_BLESSED,
            f"{run}: the new {pushed['model']} model was NOT BLESSED ({pushed['reason']}); "
            "nothing registered, @champion unchanged",
            context,
        )
        raise AirflowSkipException("not blessed: no new version")
    state = pushed.get("promotion") or ""  # core/promotion.py's state; empty: not told
    version = f"{pushed['model']} version {pushed['version']}"
    if state == "champion":
        send(PROMOTED, f"{run}: {version} was promoted to @champion", context)
    elif state == "challenger":
        why = pushed.get("promotion_reason") or "not at least as good as @champion on the gate"
        text = f"{run}: {version} is @challenger only, @champion unchanged ({why})"
        send(CHALLENGER, text, context)
    extra = {
        "model": pushed["model"],
        "version": pushed["version"],
        "uri": pushed["destination"],
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
    }
    outlet_events[asset].extra = extra
    log.info("MODEL ASSET %s updated: %s version %s", asset.uri, extra["model"], extra["version"])
    return extra
