"""People are told what happened to a run: a node that failed for good, and a model that was NOT
BLESSED (the run itself ends green). Each event is one line in the task log,
`RETRAIN NOTIFY <event>: <what happened>`, and, when the deployment names recipients, an email
through Airflow's SMTP provider:

- `RETRAIN_NOTIFY_EMAIL`: comma-separated addresses (empty: the log line only);
- `RETRAIN_NOTIFY_SMTP_CONN`: the Airflow Connection of the SMTP server (default
  `smtp_default`), e.g. `AIRFLOW_CONN_SMTP_DEFAULT='{"conn_type": "smtp", "host": ...}'`;
- `RETRAIN_NOTIFY_FROM`: the sender (default `retrain@<hostname>`).

A notification that cannot be sent is logged and never fails the task it reports on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket

from airflow.sdk import BaseNotifier

log = logging.getLogger("retrain")

FAILED, NOT_BLESSED = "failed", "not-blessed"


@dataclasses.dataclass(frozen=True)
class Target:
    """Where notifications go, from the deployment's environment."""

    email: tuple[str, ...]
    smtp_conn_id: str
    sender: str

    @classmethod
    def from_env(cls) -> Target:
        env = os.environ
        to = tuple(a.strip() for a in env.get("RETRAIN_NOTIFY_EMAIL", "").split(",") if a.strip())
        return cls(
            email=to,
            smtp_conn_id=env.get("RETRAIN_NOTIFY_SMTP_CONN", "smtp_default"),
            sender=env.get("RETRAIN_NOTIFY_FROM", f"retrain@{socket.gethostname()}"),
        )


def send(event: str, message: str, context) -> None:
    """The log line, then the email when recipients are set."""
    log.warning("RETRAIN NOTIFY %s: %s", event, message)
    target = Target.from_env()
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
    deploy it; NOT BLESSED is notified instead and raises AirflowSkipException (a skipped task
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
