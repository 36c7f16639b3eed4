"""The production profile, run for real (stack/: docker/compose.yaml's services and settings,
natively): PostgreSQL for Airflow, MLflow and ML Metadata, one login role each; the
CeleryExecutor on Redis with two workers; the FAB auth manager; MLflow's basic-auth app, the
pipeline's credentials in an Airflow Connection. No SQLite anywhere, and nothing mocked.

One stack for the module and one DAG run on a penguins sample, with two faults in it:
- triggered by an operator through the REST API (a viewer is refused);
- PostgreSQL is restarted while Transform runs;
- the worker running the Tuner is killed with kill -9 (its whole process tree), and so is its
  warm executor, in the middle of a trial.
The run completes through retries: the scheduler retries the Tuner on the other worker, the
search resumes from the shared state without redoing a finished trial, its tasks ran on both
workers, ML Metadata in PostgreSQL holds the run, and exactly one model version is registered
through the authenticated MLflow server. The run is one kill round of bench/production/run.py,
through the script's own `kill_round` (the two faults were two runs before; one run keeps
`make test` within its time).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from bench.production.run import kill_round
from core import names, promotion, registry_webhook, waiting
from stack.client import Airflow, MLflow, request
from stack.native import Stack
from tests.airflow import celery_chaos, chaos
from tests.airflow.celery_chaos import WORKERS
from tests.airflow.conftest import NAME, REPO, write_sample
from tests.airflow.registry_flows import (
    answered_by,
    champion_events,
    deploy_story,
    leave_awaiting,
    let_edit,
    serving_now,
    sign_off,
)

DAG = "retrain"
SIGNOFF_DAG = "signoff_test"
OPERATOR_ID = "2"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
BUNDLES = [
    {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
    {
        "name": "signoff-tests",
        "classpath": LOCAL_BUNDLE,
        "kwargs": {"path": str(REPO / "tests" / "airflow" / "signoff_dags")},
    },
]


@pytest.fixture(scope="module")
def prod():
    """The stack, with an operator (role Op) and a viewer (role Viewer) besides the admin."""
    root = Path(tempfile.mkdtemp(prefix="retrain-stack-"))
    stack = Stack(
        root,
        # No scheduled run; a dead worker's task is failed (and retried) 30 s after its last
        # heartbeat instead of 120 s.
        values={"RETRAIN_SCHEDULE": "none", "AIRFLOW_HEARTBEAT_TIMEOUT_S": "30"},
        extra_env={
            "RETRAIN_SETTINGS": json.dumps(
                {**json.loads(os.environ["RETRAIN_SETTINGS"]), **chaos.SETTINGS}
            ),
            "RETRAIN_ALLOWED_ROOTS": os.environ["RETRAIN_ALLOWED_ROOTS"],
            "RETRAIN_RETRIES": "4",
            "RETRAIN_RETRY_DELAY_S": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # The retraining DAG's own sign_off task, in small DAGs fed the Pusher's outcome
            # (tests/airflow/signoff_dags/), as a second DAG bundle; the operator (the second
            # FAB user, after the admin) is the one approver.
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(BUNDLES),
            "RETRAIN_APPROVERS": json.dumps([OPERATOR_ID]),
        },
    )
    try:
        stack.start()
        users = {"operator": "Op", "viewer": "Viewer"}
        passwords = {name: secrets.token_urlsafe(16) for name in users}
        admin = Airflow(stack.api, "admin", stack.secrets["AIRFLOW_ADMIN_PASSWORD"])
        for name, role in users.items():
            admin.create_user(name, passwords[name], role)
        with database(stack, "airflow", stack.secrets["AIRFLOW_DB_PASSWORD"]) as cur:
            cur.execute("SELECT id FROM ab_user WHERE username = 'operator'")
            assert [str(i) for (i,) in cur.fetchall()] == [OPERATOR_ID], "RETRAIN_APPROVERS"
        stack.passwords = passwords
        (root / "penguins").mkdir()
        stack.sample = write_sample(root / "penguins")
        yield stack
    finally:
        stack.stop()
        stack.postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def database(stack: Stack, role: str, password: str):
    """A cursor on the stack's database `role` (each role owns the database of its name)."""
    db = psycopg2.connect(
        host="127.0.0.1", port=stack.ports["postgres"], user=role, dbname=role, password=password
    )
    try:
        with db.cursor() as cur:
            yield cur
    finally:
        db.close()


def mlflow_as_pipeline(stack: Stack) -> MLflow:
    return MLflow(stack.mlflow, "pipeline", stack.secrets["MLFLOW_PIPELINE_PASSWORD"])


@pytest.fixture(scope="module")
def first_run(prod, tmp_path_factory):
    """The run, triggered by the operator (a viewer is refused), with PostgreSQL restarted
    while Transform runs and the Tuner's worker killed mid-trial: one kill round of
    bench/production/run.py (its kill_round), with the restart beside its killer."""
    viewer = Airflow(prod.api, "viewer", prod.passwords["viewer"])
    operator = Airflow(prod.api, "operator", prod.passwords["operator"])
    status, body = operator.unpause(DAG)
    assert status == 200, body
    refused, _ = viewer.trigger(DAG, {**celery_chaos.CONF, "data": str(prod.sample)})
    restarted = []

    def restart_postgres_during_transform(run_id: str) -> None:
        if restarted:
            return
        states = {t["task_id"]: t["state"] for t in operator.task_instances(DAG, run_id)}
        if states.get("Transform") == "running":
            prod.postgres.restart(down_s=3)
            restarted.append(time.time())

    work = tmp_path_factory.mktemp("kill-round")
    mlflow = mlflow_as_pipeline(prod)
    seen = kill_round(
        prod, operator, mlflow, work, 0, prod.sample, restart_postgres_during_transform
    )
    print("PostgreSQL restarted; services the stack restarted:", prod.restarts)
    logs = {
        log: log.read_text(errors="replace").splitlines()
        for log in sorted((prod.root / "airflow").rglob("*.log"))
    }
    # Each failed try's one-line reason (the node runner's RETRAIN FAILED line in its task log).
    failures = sorted(
        line.strip() for lines in logs.values() for line in lines if "RETRAIN FAILED" in line
    )
    print("failed tries:", failures or "none")
    if seen["state"] != "success":  # the end of each unfinished task's logs, for the report
        tis = operator.task_instances(DAG, seen["run_id"])
        bad = {t["task_id"] for t in tis if t["state"] != "success"}
        for log, lines in logs.items():
            if any(f"task_id={task}" in str(log) for task in bad):
                print(f"--- {log.relative_to(prod.root)}")
                print("\n".join(lines[-25:]))
    return {
        "failures": failures,
        "run_id": seen["run_id"],
        "state": seen["state"],
        "refused": refused,
        "restarted": restarted,
        "operator": operator,
        "seen": seen,
    }


def test_a_viewer_cannot_trigger_an_operator_can(first_run):
    assert first_run["refused"] == 403
    assert first_run["run_id"]


def test_the_run_survives_a_postgres_restart_and_uses_both_workers(prod, first_run):
    run_id, operator = first_run["run_id"], first_run["operator"]
    assert first_run["restarted"], "Transform was never seen running"
    tis = operator.task_instances(DAG, run_id)
    assert first_run["state"] == "success", (
        first_run["failures"],
        [(t["task_id"], t["state"], t["try_number"]) for t in tis],
        prod.log_tail("scheduler"),
    )
    hosts = {t["hostname"] for t in tis if t["state"] == "success"}
    assert hosts == WORKERS, hosts


def test_ml_metadata_lives_in_postgres(prod, first_run):
    with database(prod, "mlmd", prod.env()["RETRAIN_MLMD_PASSWORD"]) as cur:
        # ML Metadata's own tables (their case is the backend's: lowercase on PostgreSQL).
        cur.execute(
            "SELECT lower(table_name), table_name FROM information_schema.tables "
            "WHERE table_schema = 'public'"
        )
        table = dict(cur.fetchall())
        cur.execute(
            f'SELECT c.name FROM "{table["context"]}" c JOIN "{table["type"]}" t '
            "ON c.type_id = t.id WHERE t.name = 'pipeline_run'"
        )
        runs = {name for (name,) in cur.fetchall()}
        cur.execute(f'SELECT count(*) FROM "{table["execution"]}"')
        (executions,) = cur.fetchone()
    assert first_run["run_id"] in runs, runs
    assert executions >= 11
    assert not (prod.root / "state" / "metadata.sqlite").exists()


def test_the_model_is_registered_through_the_authenticated_server(prod, first_run):
    versions = mlflow_as_pipeline(prod).versions(NAME)
    runs = [
        {t["key"]: t["value"] for t in v.get("tags", [])}.get("tfx_pipeline_run_id")
        for v in versions
    ]
    assert runs == [first_run["run_id"]], versions
    # ... and it lies in PostgreSQL: MLflow's backend store, as MLflow's own role sees it.
    with database(prod, "mlflow", prod.secrets["MLFLOW_DB_PASSWORD"]) as cur:
        cur.execute("SELECT name, version FROM model_versions")
        assert cur.fetchall() == [(NAME, 1)]
    # MLflow refuses a write without credentials, or with a wrong password.
    for client in (MLflow(prod.mlflow), MLflow(prod.mlflow, "pipeline", "not-the-password")):
        status, body = client.call("POST", "/experiments/create", {"name": "intruder"})
        assert status == 401, body
    # The pipeline's MLflow password reached the nodes through the Connection only: no task
    # log holds it.
    password = prod.secrets["MLFLOW_PIPELINE_PASSWORD"]
    logs = prod.root / "airflow" / "logs"
    leaked = [p for p in logs.rglob("*.log") if password in p.read_text(errors="replace")]
    assert not leaked


def test_killing_the_tuners_worker_and_executor_mid_trial(prod, first_run):
    seen = first_run["seen"]
    killed = seen["killed"]
    assert killed, "the Tuner was never caught mid-trial"
    assert killed["executors"], "the worker had no warm executor"
    # The node's own process went with its executor (it dies with its parent).
    assert seen["holder_gone"], seen
    assert seen["state"] == "success", seen
    other = (WORKERS - {killed["worker"]}).pop()
    tries = seen["tries"]
    assert tries[0][2] == killed["worker"] and tries[-1][1:] == ("success", other), seen
    # No trial finished before the kill ran again, and every trial ran exactly once.
    assert seen["retry_log"] and not seen["redone"], seen
    assert seen["trials"] == seen["distinct_trials"] == celery_chaos.CONF["max_trials"], seen
    # Exactly one version, from this run; the benchmark's own verdict on the round agrees.
    assert seen["new_versions"] == 1
    assert seen["problems"] == [], seen


# ---- the registry leads, serving follows -------------------------------------------------
# An alias set in MLflow reaches deploy_new_model through MLflow's registry webhook, which the
# stack registered (stack/mlflow_server.py), and its receiver on the api-server
# (plugins/registry_webhook.py). The run's version, copied twice to a model of these tests' own
# (the run's model keeps its one version), is the served model.
SERVED = "penguin_served"


@pytest.fixture(scope="module")
def served(prod, first_run):
    """SERVED versions 1 and 2; version 2 is @champion and served (started and switched to
    through the front's own API: test_serving tests the deploy's smoke test), before
    deploy_new_model is unpaused."""
    from mlflow import MlflowClient

    from core import promotion
    from serving import deploy

    assert first_run["state"] == "success", "no registered version to serve"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", prod.mlflow)
    mp.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    mp.setenv("MLFLOW_TRACKING_PASSWORD", prod.secrets["MLFLOW_ADMIN_PASSWORD"])
    try:
        client = MlflowClient(prod.mlflow, registry_uri=prod.mlflow)
        for _ in (1, 2):
            client.copy_model_version(f"models:/{NAME}/1", SERVED)
        promotion.make_champion(client, SERVED, "2", "test: the pipeline's promotion")
        control = deploy.Control(prod.serving, prod.secrets["SERVING_TOKEN"])
        started = time.monotonic()
        control.start(SERVED, "2")
        control.switch("2")
        print(f"{SERVED} version 2 started and served in {time.monotonic() - started:.0f} s")
        admin = Airflow(prod.api, "admin", prod.secrets["AIRFLOW_ADMIN_PASSWORD"])
        status, body = admin.unpause("deploy_new_model")
        assert status == 200, body
        yield {"client": client, "control": control, "admin": admin}
    finally:
        mp.undo()


def test_an_alias_moved_in_mlflow_changes_the_served_version(prod, served):
    """A rollback by hand, through MLflow's API: the served version follows. The webhook and
    the Asset event take seconds, the deploy the rest (bench/serving/RESULTS.md: 40 to 157 s on
    a loaded 2-core machine); the wait is generous for a machine under heavier load."""
    client, control = served["client"], served["control"]
    assert serving_now(control) == (SERVED, "2")
    before = len(champion_events(served["admin"]))
    client.set_registered_model_alias(SERVED, "champion", "1")
    started = time.monotonic()
    followed = waiting.wait_until(
        lambda: serving_now(control) == (SERVED, "1"), 600, every_s=2, quiet=True
    )
    took = time.monotonic() - started
    print(f"@champion moved by hand to version 1: served after {took:.0f} s")
    assert followed, (serving_now(control), deploy_story(prod))
    assert answered_by(prod.serving, SERVED) == "1"
    # The receiver recorded it, with the model and version MLflow signed.
    events = champion_events(served["admin"])[before:]
    moved = [e["extra"] for e in events if e["extra"].get("model") == SERVED]
    assert moved and moved[-1]["version"] == "1" and moved[-1]["alias"] == "champion", events


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(prod, served):
    admin, control = served["admin"], served["control"]
    serving = serving_now(control)
    events = champion_events(admin)
    url = f"{prod.api}{registry_webhook.URL_PREFIX}{registry_webhook.PATH}"
    secret = prod.secrets["REGISTRY_WEBHOOK_SECRET"]

    def post(signer: str, at: float, version: str = "2") -> tuple[int, object]:
        """MLflow's delivery of @champion set on SERVED `version`, signed by `signer`."""
        move = {"name": SERVED, "alias": "champion", "version": version}
        body = json.dumps({"entity": "model_version_alias", "action": "created", "data": move})
        stamp, delivery = str(int(at)), "d-" + secrets.token_hex(8)
        headers = {
            registry_webhook.TIMESTAMP_HEADER: stamp,
            registry_webhook.DELIVERY_HEADER: delivery,
        }
        if signer:
            signature = registry_webhook.sign(signer, delivery, stamp, body.encode())
            headers[registry_webhook.SIGNATURE_HEADER] = signature
        return request(url, "POST", json.loads(body), headers)  # json.dumps: the same bytes

    now = time.time()
    refused = {
        "no signature": post("", now),
        "another secret": post("not-" + secret, now),
        "a replay 10 minutes late": post(secret, now - 600),
    }
    assert {k: v[0] for k, v in refused.items()} == dict.fromkeys(refused, 401), refused
    time.sleep(5)  # a scheduler loop or two: a recorded event would have queued a run
    assert champion_events(admin) == events
    assert serving_now(control) == serving
    # A delivery signed with the secret now is taken (the refusals were the signature's): the
    # version @champion is on, which serves already.
    status, answer = post(secret, time.time(), serving[1])
    assert status == 200 and answer["recorded"]["version"] == serving[1], answer
    assert len(champion_events(admin)) == len(events) + 1


def test_an_approved_version_serves_a_rejected_one_changes_nothing(prod, served):
    """Promotion `approval` on the stack, from the sign-off to the served version: the retraining
    DAG's own sign_off task (in a DAG fed the Pusher's outcome) on versions the pusher's
    `promote` left awaiting sign-off. The operator, the one approver (a FAB user named by id in
    `approvers`), approves version 3 through the REST API: @champion moves, MLflow's webhook
    reaches deploy_new_model, version 3 serves. The admin, not named, is refused. Then the
    operator rejects version 4: @champion and the served version stay on 3."""
    client, control = served["client"], served["control"]
    operator = Airflow(prod.api, "operator", prod.passwords["operator"])
    status, body = operator.unpause(SIGNOFF_DAG)
    assert status == 200, body
    let_edit(prod.mlflow, SERVED)  # the pipeline moves @champion; the admin made this model
    states = {}
    for version in ("3", "4"):
        client.copy_model_version(f"models:/{NAME}/1", SERVED)
        states[version] = leave_awaiting(client, SERVED, version)
    assert states == {"3": promotion.AWAITING, "4": promotion.AWAITING}
    before = serving_now(control)
    assert before is not None and before[1] not in states, before

    log = prod.root / "logs" / "scheduler.log"
    conf = {"model": SERVED, "promotion": promotion.AWAITING}
    sign_off(operator, log, SIGNOFF_DAG, {**conf, "version": "3"}, "Approve", served["admin"])
    champion = client.get_model_version_by_alias(SERVED, names.CHAMPION)
    assert str(champion.version) == "3"
    assert champion.tags[names.TAG_CHAMPION_BY] == "operator"
    assert champion.tags[names.TAG_SIGNOFF_STATE] == promotion.APPROVED
    started = time.monotonic()
    followed = waiting.wait_until(
        lambda: serving_now(control) == (SERVED, "3"), 600, every_s=2, quiet=True
    )
    print(f"approved version 3: served {time.monotonic() - started:.0f} s after the run ended")
    assert followed, (serving_now(control), deploy_story(prod))
    assert answered_by(prod.serving, SERVED) == "3"

    sign_off(operator, log, SIGNOFF_DAG, {**conf, "version": "4"}, "Reject")
    assert str(client.get_model_version_by_alias(SERVED, names.CHAMPION).version) == "3"
    rejected = client.get_model_version(SERVED, "4").tags
    assert rejected[names.TAG_SIGNOFF_STATE] == promotion.REJECTED
    time.sleep(10)  # a deploy, had one been queued, would have started by now
    assert serving_now(control) == (SERVED, "3")
