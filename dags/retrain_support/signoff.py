"""A person's sign-off before @champion moves (promotion `approval`, core/promotion.py): the
retraining DAG's `sign_off` task, an Airflow human-in-the-loop ApprovalOperator.

After the Pusher, when it left a version awaiting sign-off (its outcome's `promotion` is
`awaiting_approval`), the task writes the approval form (the gate's evidence and links:
pipelines/signoff.py) and waits in Airflow's AWAITING_INPUT state for an answer from the UI
("Required actions") or the REST API (PATCH .../taskInstances/sign_off/-1/hitlDetails). Any
other outcome (promotion `auto`, @challenger only, NOT BLESSED, no outcome) skips it.

- Who may answer: the form's `assigned_users`, read when the task starts: the operator's
  `approvers` (user ids), else every user of [core] simple_auth_manager_users whose role is
  `approval_role` or a higher one (SimpleAuthManager's order: viewer, user, op, admin). Airflow
  refuses anyone else (HTTP 403). No such user: the task fails (an empty list would let any user
  who may edit the DAG answer).
- Approve: @champion moves through core/promotion.py's `make_champion`, as with `auto`; the model
  Asset gets an event, so deploy_new_model runs. Reject: the version stays @challenger. Both are
  recorded on the version (tags `signoff.*`: who, when, the form's reason) and notified.
- No answer within `approval_timeout_s`: Airflow's scheduler resumes the task with a timeout;
  nothing is promoted, the version is tagged `timed_out`, the team is notified, and the task
  ends skipped.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from core import promotion, results
from core import settings as contract
from retrain_support import REPO, node_client, notify

log = logging.getLogger("retrain")
TASK_ID = "sign_off"
# The settings that locate MLflow as the pipeline does (pipelines/settings.py: tracking()).
STORE_SETTINGS = ("pipeline_root", "metadata_path", "metadata_uri", "mlflow_tracking_uri")


def setting(name: str):
    """An operator's setting of the sign-off (core/operator_settings.py): its env, else default."""
    return contract.SETTINGS[name].default_value()


def approvers() -> list[dict]:
    """The HITL users who may answer: `approvers`, else the SimpleAuthManager users holding
    `approval_role` or a higher role. Fails when there is none."""
    from airflow.providers.common.compat.sdk import conf

    explicit = setting("approvers")
    if explicit:
        return [{"id": str(u), "name": str(u)} for u in explicit]
    roles = list(contract.SETTINGS["approval_role"].choices)  # lowest first
    wanted = roles.index(setting("approval_role"))
    users = []
    for entry in conf.getlist("core", "simple_auth_manager_users", fallback=""):
        name, _, rest = entry.strip().partition(":")
        role = rest.partition(":")[0].strip().lower()
        if name and role in roles and roles.index(role) >= wanted:
            users.append({"id": name, "name": name})
    if not users:
        raise AirflowFailException(
            f"no user may sign off: none of [core] simple_auth_manager_users has the role "
            f"{setting('approval_role')!r} or a higher one, and approvers is empty"
        )
    if conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False):
        log.warning("simple_auth_manager_all_admins is on: every user may sign off")
    return users


def sign_off_task(pushed, run_settings, tfx_python: str, outlets: list) -> SignOff:
    """The retraining DAG's `sign_off` task, after the Pusher (`pushed`: its outcome)."""
    return SignOff(
        task_id=TASK_ID,
        pushed=pushed,
        run_settings=run_settings,
        tfx_python=tfx_python,
        outlets=outlets,
        retries=0,
    )


class SignOff(ApprovalOperator):
    """The `sign_off` task (see the module's docstring). `pushed`: the Pusher's outcome (an
    XComArg); `run_settings`: the run's pipeline settings (check_params's XCom)."""

    template_fields = (*ApprovalOperator.template_fields, "pushed", "run_settings")

    def __init__(self, *, pushed, run_settings, tfx_python: str, response_timeout=None, **kw):
        timeout = response_timeout or timedelta(seconds=float(setting("approval_timeout_s")))
        reason = Param(
            "",
            type="string",
            title="Reason",
            description="Why you approve or reject (recorded on the version's tags).",
        )
        kw.pop("params", None)  # the DAG's Params (a @dag passes them): not the form's
        super().__init__(
            subject="Sign off a new @champion",
            body=None,
            params={"reason": reason},
            response_timeout=timeout,
            **kw,
        )
        self.pushed = pushed
        self.run_settings = run_settings
        self.tfx_python = tfx_python

    def _awaiting(self) -> tuple[str, str]:
        pushed = self.pushed if isinstance(self.pushed, dict) else {}  # containers: none
        outcome = pushed.get("pushed") or {}
        if outcome.get("promotion") != promotion.AWAITING:
            raise AirflowSkipException(
                f"no version awaits sign-off (the Pusher's outcome: "
                f"{outcome.get('promotion') or 'none'})"
            )
        return str(outcome["model"]), str(outcome["version"])

    def _tool(self, *argv: str) -> dict:
        store = {k: v for k, v in (self.run_settings or {}).items() if k in STORE_SETTINGS}
        lines = node_client.run_module(
            self.tfx_python,
            REPO,
            "pipelines.signoff",
            [*argv, "--settings", json.dumps(store)],
        )
        return results.last(lines) or {}

    def execute(self, context):
        model, version = self._awaiting()
        found = self._tool("evidence", "--model", model, "--version", version)
        if found.get("state") != promotion.SIGNOFF_AWAITING:
            raise AirflowSkipException(f"{model} version {version}: sign-off {found.get('state')}")
        self.assigned_users = approvers()
        names = ", ".join(u["name"] for u in self.assigned_users)
        self.subject = found["subject"]
        self.body = f"{found['body']}\n\nWho may answer: {names}. No answer within " + (
            f"{self.response_timeout}: nothing is promoted."
        )
        run = f"{context['dag_run'].dag_id} run {context['dag_run'].run_id}"
        notify.send(
            notify.AWAITING,
            f"{run}: {model} version {version} awaits sign-off by {names} (task {self.task_id}, "
            f"within {self.response_timeout})",
            context,
        )
        return super().execute(context)

    def execute_complete(self, context, event):
        model, version = self._awaiting()
        run = f"{context['dag_run'].dag_id} run {context['dag_run'].run_id}"
        if event.get("error_type") == "timeout":
            why = f"no answer within {self.response_timeout}"
            self._tool(*self._decide(model, version, promotion.TIMED_OUT, "nobody", why))
            text = f"{run}: {model} version {version} stays @challenger: {why}; nothing promoted"
            notify.send(notify.SIGNOFF_TIMEOUT, text, context)
            raise AirflowSkipException(text)
        answer = super().execute_complete(context=context, event=event)
        user = answer.get("responded_by_user") or {}
        by = str(user.get("name") or user.get("id") or "unknown")
        why = str((answer.get("params_input") or {}).get("reason") or "")
        approved = answer["chosen_options"][0] == self.APPROVE
        chosen = promotion.APPROVED if approved else promotion.REJECTED
        done = self._tool(*self._decide(model, version, chosen, by, why))
        event_name = notify.PROMOTED if approved else notify.REJECTED
        said = "promoted to @champion" if approved else "rejected: it stays @challenger"
        notify.send(event_name, f"{run}: {model} version {version} {said} by {by} ({why})", context)
        extra = {"model": model, "version": version, "uri": f"models:/{model}/{version}"}
        extra.update(dag_id=context["dag_run"].dag_id, run_id=context["dag_run"].run_id)
        for asset in self.outlets or []:
            context["outlet_events"][asset].extra = extra
        return done

    @staticmethod
    def _decide(model: str, version: str, answer: str, by: str, why: str) -> list[str]:
        argv = ["decide", "--model", model, "--version", version, "--answer", answer]
        return [*argv, f"--by={by}", f"--reason={why}"]  # a reason may start with "-"
