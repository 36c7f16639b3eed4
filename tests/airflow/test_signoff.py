"""Sign-off (promotion `approval`) through a real Airflow: api-server, scheduler (LocalExecutor)
and dag-processor, SimpleAuthManager with generated passwords and no all-admins, answering
through the REST API as the users themselves.

The retraining DAG's own `sign_off` task runs in small DAGs (tests/airflow/signoff_dags/) fed
the Pusher's outcome, so no TFX pipeline runs. The registry is a real MLflow (SQLite) whose
versions were left awaiting sign-off by core/promotion.py's `promote`, the pusher's own alias
logic, with promotion `approval`; the task's evidence and decisions run pipelines/signoff.py in
the TFX environment, as in the retraining DAG. Users: `approver` (role op, the operator's
approval_role), `boss` (admin: a higher role may decide too) and `analyst` (role user: may edit
DAGs, not sign off). Four runs at once:
- version 2: `analyst` is refused (403); `approver` approves: @champion moves to 2, recorded;
- version 3: `approver` rejects with a reason: @champion stays, the version is tagged;
- version 4 (a 15 s timeout): nobody answers: nothing promoted, the team's webhook is told;
- version 5, kept as @challenger by the gate: the task is skipped, nothing waits.
The approver's form is also opened in Airflow's UI (headless Chromium) and kept as a screenshot,
.local/test-artifacts/ui/approval-form.png.
"""

from __future__ import annotations

import json
import secrets

import pytest

from core import names, promotion, waiting
from tests.airflow.browser import ARTIFACTS, chromium, sign_in
from tests.airflow.conftest import REPO, api_call, running_airflow
from tests.airflow.http_sink import HttpSink
from tests.airflow.registry_flows import GATE, hitl_path, parked_and_seen

MODEL = "signoff_model"
ROLES = {"approver": "op", "boss": "admin", "analyst": "user"}
DAGS = REPO / "tests" / "airflow" / "signoff_dags"


def _registry(uri: str):
    """@champion version 1; versions 2-4 awaiting sign-off, 5 @challenger only (its gate found
    it not at least as good), each left so by the pusher's `promote`."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    experiment = client.create_experiment("signoff-nas")
    states = {}
    for n in range(1, 6):
        run = client.create_run(experiment)
        tags = {names.TAG_MODEL_ARTIFACT_ID: str(100 + n), **GATE}
        version = client.create_model_version(MODEL, f"{REPO}", run.info.run_id, tags=tags)
        if n == 1:
            promotion.make_champion(client, MODEL, version.version, "the first")
            continue
        client.set_registered_model_alias(MODEL, names.CHALLENGER, version.version)
        state = promotion.CHALLENGER if n == 5 else promotion.CHAMPION
        decision = {"state": state, "reason": GATE[names.TAG_GATE_REASON]}
        decision["champion_model_id"] = 101
        states[n], _ = promotion.promote(client, MODEL, version, decision, promotion.APPROVAL)
    return client, states


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("signoff-airflow")
    passwords = {user: secrets.token_urlsafe(16) for user in ROLES}
    (home / "users.json").write_text(json.dumps(passwords))
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client, states = _registry(uri)
    with HttpSink() as sink:
        env = {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{r}" for u, r in ROLES.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "users.json"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            "PYTHONPATH": str(REPO / "dags"),
            "MLFLOW_TRACKING_URI": uri,
            "RETRAIN_APPROVAL_ROLE": "op",
            "RETRAIN_APPROVAL_TIMEOUT_S": "900",
            "RETRAIN_NOTIFY_WEBHOOK": sink.url("/hooks/team"),
        }
        with running_airflow(home, password="unused", **env) as (_, base):
            tokens = {}
            for user, password in passwords.items():
                status, body = api_call(
                    "POST", f"{base}/auth/token", body={"username": user, "password": password}
                )
                assert status in (200, 201), body
                tokens[user] = body["access_token"]
            yield {
                **{"base": base, "tokens": tokens, "client": client, "states": states},
                **{"sink": sink, "home": home, "passwords": passwords},
            }


def _trigger(base, token, dag_id, version, state=promotion.AWAITING) -> str:
    conf = {"model": MODEL, "version": version, "promotion": state}
    status, body = api_call(
        "POST", f"{base}/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None, "conf": conf}
    )
    assert status == 200, body
    return body["dag_run_id"]


def _task(base, token, dag_id, run_id) -> dict:
    url = f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/sign_off"
    status, body = api_call("GET", url, token)
    return body if status == 200 else {}


def _hitl(base, dag_id, run_id) -> str:
    return f"{base}/api/v2{hitl_path(dag_id, run_id)}"


def _run_state(base, token, dag_id, run_id) -> str:
    _, body = api_call("GET", f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}", token)
    return body.get("state", "")


def test_sign_off_through_the_rest_api_as_real_users(stack):
    base, tokens, client = stack["base"], stack["tokens"], stack["client"]
    # The pusher's logic left 2-4 awaiting (and tagged), 5 @challenger only.
    awaiting = {n: promotion.AWAITING for n in (2, 3, 4)}
    assert stack["states"] == {**awaiting, 5: promotion.CHALLENGER}
    admin = tokens["approver"]
    runs = {
        "approve": ("signoff_test", _trigger(base, admin, "signoff_test", 2)),
        "reject": ("signoff_test", _trigger(base, admin, "signoff_test", 3)),
        "timeout": ("signoff_test_timeout", _trigger(base, admin, "signoff_test_timeout", 4)),
        "skip": (
            "signoff_test",
            _trigger(base, admin, "signoff_test", 5, promotion.CHALLENGER),
        ),
    }

    def settled(key):
        dag_id, run_id = runs[key]
        state = _task(base, admin, dag_id, run_id).get("state")
        return parked_and_seen(stack["home"] / "scheduler.log", dag_id, run_id, state)

    for key in ("approve", "reject"):
        waiting.wait_until(lambda k=key: settled(k), 180, every_s=2, what=f"{key} awaiting input")

    # The form: the gate's evidence, and who may answer (op and the higher admin, not user).
    status, detail = api_call("GET", _hitl(base, *runs["approve"]), admin)
    assert status == 200, detail
    body = detail["body"]
    for text in ("0.2113", "0.2391", "1.0712", "[-0.0512, -0.0049]", "trivial baseline"):
        assert text in body, body
    assert "MLflow run" in body and "evaluation/gate.json" in body
    assert {u["id"] for u in detail["assigned_users"]} == {"approver", "boss"}
    # The same form in Airflow's UI, as the approver sees it (the screenshot in docs/registry.md).
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sign_in(page, base, "approver", stack["passwords"]["approver"])
        dag_id, run_id = runs["approve"]
        page.goto(f"{base}/dags/{dag_id}/runs/{run_id}/tasks/sign_off/required_actions")
        page.get_by_text("[-0.0512, -0.0049]").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Approve").first.wait_for()
        page.wait_for_timeout(1000)  # the layout settles
        page.screenshot(path=str(ARTIFACTS / "approval-form.png"), full_page=True)

    # A user without the role is refused, and nothing changes.
    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "I like it"}}
    status, refused = api_call("PATCH", _hitl(base, *runs["approve"]), tokens["analyst"], answer)
    assert status == 403, refused
    assert str(client.get_model_version_by_alias(MODEL, names.CHAMPION).version) == "1"

    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "better log loss"}}
    status, got = api_call("PATCH", _hitl(base, *runs["approve"]), tokens["approver"], answer)
    assert status == 200, got
    answer = {"chosen_options": ["Reject"], "params_input": {"reason": "island drift"}}
    status, got = api_call("PATCH", _hitl(base, *runs["reject"]), tokens["boss"], answer)
    assert status == 200, got

    def ended():
        states = {k: _run_state(base, admin, *r) for k, r in runs.items()}
        return states if all(s in ("success", "failed") for s in states.values()) else None

    states = waiting.wait_until(ended, 180, every_s=3, what="the four runs")
    tasks = {k: _task(base, admin, *r).get("state") for k, r in runs.items()}
    assert tasks == {
        "approve": "success",
        "reject": "success",
        "timeout": "skipped",
        "skip": "skipped",
    }, (states, tasks)

    # Approve: @champion moved through make_champion, recorded by whom and why.
    champion = client.get_model_version_by_alias(MODEL, names.CHAMPION)
    assert str(champion.version) == "2"
    assert champion.tags[names.TAG_CHAMPION_BY] == "approver"
    assert champion.tags[names.TAG_CHAMPION_FROM] == "1"
    assert "better log loss" in champion.tags[names.TAG_CHAMPION_REASON]
    assert champion.tags[names.TAG_SIGNOFF_STATE] == promotion.APPROVED
    # Reject: still @challenger only, tagged with who, when and why.
    rejected = client.get_model_version(MODEL, "3").tags
    assert rejected[names.TAG_SIGNOFF_STATE] == promotion.REJECTED
    assert rejected[names.TAG_SIGNOFF_BY] == "boss"
    assert rejected[names.TAG_SIGNOFF_REASON] == "island drift"
    assert rejected[names.TAG_SIGNOFF_AT] and names.TAG_CHAMPION_AT not in rejected
    # Timeout: nothing promoted, tagged, and the team told.
    timed_out = client.get_model_version(MODEL, "4").tags
    assert timed_out[names.TAG_SIGNOFF_STATE] == promotion.TIMED_OUT
    assert names.TAG_CHAMPION_AT not in timed_out
    told = [r["body"]["text"] for r in stack["sink"].requests]
    assert any("sign-off-timeout" in t and "version 4" in t for t in told), told
    assert any("awaiting-sign-off" in t and "version 2" in t for t in told), told
    # Skipped: the gate's @challenger never waited.
    assert names.TAG_SIGNOFF_STATE not in client.get_model_version(MODEL, "5").tags
