"""What the tests of the registry's flows share (test_production's served model and sign-off on
the real stack, test_signoff's small Airflow): the gate's record as the pusher tags it, versions
left awaiting sign-off by the pusher's own `promote`, the approval form's endpoint, and what the
serving front serves."""

from __future__ import annotations

import json
from pathlib import Path

from core import names, promotion, registry_webhook, waiting

# The gate's record, as the pusher tags it (components/mlflow_pusher/evaluation.py gate_tags).
GATE = {
    names.TAG_GATE_METRIC: "log_loss",
    names.TAG_GATE_VALUE: "0.2113",
    names.TAG_GATE_TRIVIAL: "1.0712",
    names.TAG_GATE_CHAMPION: "0.2391",
    names.TAG_GATE_DIFF_LOW: "-0.0512",
    names.TAG_GATE_DIFF_HIGH: "-0.0049",
    names.TAG_GATE_ROWS: "34",
    names.TAG_GATE_REASON: "log_loss 0.2113 vs champion 0.2391: at least as good",
}


def leave_awaiting(client, model: str, version: str) -> str:
    """Tags `version` with the gate's record and hands it to the pusher's `promote` with
    promotion `approval`, as a gate that found it at least as good as @champion would: it is
    left @challenger, awaiting sign-off. The promotion state."""
    champion = client.get_model_version_by_alias(model, names.CHAMPION)
    compared = champion.tags.get(names.TAG_MODEL_ARTIFACT_ID)
    if compared is None:  # the id of the champion's model artifact the gate compared with
        compared = "101"
        client.set_model_version_tag(model, champion.version, names.TAG_MODEL_ARTIFACT_ID, "101")
    for key, value in GATE.items():
        client.set_model_version_tag(model, version, key, value)
    client.set_registered_model_alias(model, names.CHALLENGER, version)
    decision = {"state": promotion.CHAMPION, "reason": GATE[names.TAG_GATE_REASON]}
    decision["champion_model_id"] = int(compared)
    state, _ = promotion.promote(
        client, model, client.get_model_version(model, version), decision, promotion.APPROVAL
    )
    return state


def let_edit(tracking_uri: str, model: str, username: str = "pipeline") -> None:
    """Gives MLflow's `username` EDIT on `model`, as the admin of the environment's credentials
    (with MLflow's basic auth a user may edit only what it created, or what it is granted)."""
    from mlflow.server.auth.client import AuthServiceClient

    auth = AuthServiceClient(tracking_uri)
    auth.grant_user_permission(username, "registered_model", model, "EDIT")


def hitl_path(dag_id: str, run_id: str, task_id: str = "sign_off") -> str:
    """The sign-off form's endpoint, under /api/v2 (GET: the form; PATCH: an answer)."""
    return f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails"


def parked_and_seen(scheduler_log: Path, dag_id: str, run_id: str, state: str) -> bool:
    """The sign_off task is awaiting input (`state`, its state through the API) and the
    scheduler has seen the parking process end. (Airflow 3.3.2's race: an answer that resumes
    the task before that process's end reaches the scheduler has the scheduler take that end for
    the resumed task's and fail it. A person answers minutes later; the tests answer at once.)"""
    seen = f"task_id='sign_off', run_id='{run_id}'"
    if state != "awaiting_input" or not scheduler_log.exists():
        return False
    # The process's end: "with state success" (or failed); not "with state queued", which the
    # CeleryExecutor reports when it sends the task.
    ended = [f"Received executor event with state {s} " for s in ("success", "failed")]
    lines = scheduler_log.read_text(errors="replace").splitlines()
    return any(any(e in ln for e in ended) and seen in ln and dag_id in ln for ln in lines)


def _lines(log: Path, text: str) -> list[str]:
    return [ln for ln in log.read_text(errors="replace").splitlines() if text in ln]


def sign_off(person, scheduler_log: Path, dag_id: str, conf: dict, choice: str, refused=None):
    """Triggers `dag_id` (a DAG of tests/airflow/signoff_dags/) with `conf` as `person` (a
    stack.client.Airflow), waits for its sign_off task to park, has `refused` (another user,
    optional) answer first and be refused (403), then answers `choice` ("Approve" or "Reject")
    as `person`; returns once the run succeeded."""
    status, run = person.trigger(dag_id, conf)
    assert status == 200, run
    run_id = run["dag_run_id"]

    def parked() -> bool:
        tis = {t["task_id"]: t["state"] for t in person.task_instances(dag_id, run_id)}
        return parked_and_seen(scheduler_log, dag_id, run_id, tis.get("sign_off") or "")

    waiting.wait_until(parked, 300, every_s=2, what=f"{conf} awaiting sign-off")
    said = {"chosen_options": [choice], "params_input": {"reason": f"test: {choice}"}}
    if refused is not None:
        status, body = refused.call("PATCH", hitl_path(dag_id, run_id), said)
        assert status == 403, body
    status, body = person.call("PATCH", hitl_path(dag_id, run_id), said)
    assert status == 200, body
    state = person.wait(dag_id, run_id, 300)
    if state != "success":  # the task's log, for the report (the stack's logs go with it)
        logs = scheduler_log.parent.parent / "airflow" / "logs" / f"dag_id={dag_id}"
        for log in sorted(logs.glob(f"run_id={run_id}/task_id=sign_off/*.log")):
            print(f"--- {log}\n{log.read_text(errors='replace')[-6000:]}")
        print("--- scheduler", "\n".join(_lines(scheduler_log, run_id)[-20:]))
    assert state == "success", (state, person.task_instances(dag_id, run_id))
    return run_id


def serving_now(control) -> tuple[str, str] | None:
    """(model, version) the serving front serves now, or None."""
    now = control.serving()
    return (now["model"], now["version"]) if now else None


def logged_rows(model: str, version: str) -> bytes:
    """The serving JSON of the rows logged with `model` `version` (its input example)."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(f"models:/{model}/{version}")
    return (Path(local) / "serving_input_example.json").read_bytes()


def invoke(url: str, body: bytes) -> tuple[int, str]:
    """(HTTP status, the X-Model-Version that answered) of the front's answer to `body`; an
    answer without predictions is status -2, no answer -1."""
    import urllib.request

    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            predicted = json.loads(answer.read())["predictions"]
            return (answer.status if predicted else -2), answer.headers["X-Model-Version"]
    except OSError as e:
        return getattr(e, "code", 0) or -1, ""


def answered_by(serving_url: str, model: str) -> str:
    """The X-Model-Version of the front's answer to the rows logged with `model` version 1."""
    status, version = invoke(serving_url, logged_rows(model, "1"))
    assert status == 200, status
    return version


def deploy_story(prod) -> str:
    """What the receiver logged, and the end of each deploy_new_model task log."""
    api = prod.root / "logs" / "api-server.log"
    lines = [ln for ln in api.read_text(errors="replace").splitlines() if "REGISTRY WEBHOOK" in ln]
    tasks = sorted((prod.root / "airflow" / "logs").glob("dag_id=deploy_new_model/*/*/*.log"))
    tails = [f"--- {p.parent.parent.name}\n{p.read_text(errors='replace')[-2500:]}" for p in tasks]
    return "\n".join([*lines[-10:], *tails])


def champion_events(admin) -> list[dict]:
    """The receiver's Asset events (registry_champion_moved), oldest first."""
    status, body = admin.call("GET", f"/assets?name_pattern={registry_webhook.ASSET_NAME}")
    assert status == 200, body
    [asset] = [a for a in body["assets"] if a["name"] == registry_webhook.ASSET_NAME]
    status, body = admin.call("GET", f"/assets/events?asset_id={asset['id']}&limit=1000")
    assert status == 200, body
    return sorted(body["asset_events"], key=lambda e: e["id"])
