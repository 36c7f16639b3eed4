"""The Airflow and MLflow UIs, driven as a user would: headless Chromium (Debian's `chromium`,
through Playwright with executable_path; no browser of Playwright's own is ever downloaded).

A real Airflow (api-server, scheduler on LocalExecutor, dag-processor) and a real MLflow server
run on loopback. The test logs in, opens the DAG, fills the trigger form with non-default
Params, triggers, waits for the run to succeed and takes screenshots; then opens the registered
model's page in the MLflow UI. Screenshots are kept under .local/test-artifacts/ui/.

The form belongs to a dataset's DAG (`retrain_penguins`, from datasets/penguins.json). Then,
through the same API server, it posts an event for the other bundled dataset's Asset (the
diabetes folder): only `retrain_diabetes_on_data` starts, it trains on that Asset's folder, and
the deployment ends with two registered models and two search experiments, one per dataset."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request

import pytest

from tests.airflow.browser import ARTIFACTS, check_chromium, chromium, sign_in
from tests.airflow.conftest import (
    NAME,
    REPO,
    free_port,
    running_airflow,
    start_server,
    stop_server,
)

RUN_ID = "ui-trigger-1"
DAG = "retrain_penguins"  # datasets/penguins.json
# No explanations or TFLite files in this stack (CI's time). The form's run sets its own small
# search; the Asset-triggered diabetes run keeps its dataset definition's (3 trials, 10 epochs):
# on its 48 test rows a 1-trial, 2-epoch search is not clearly better than the training mean
# (rmse 59.4 against 72.5, the interval reaching -4.0, NOT BLESSED), and the gate is right.
SETTINGS = {
    "explain": False,
    "edge_export": False,
    "data_profile": False,
}
# Non-default Params, entered in the form's own fields.
FORM = {"max_trials": "1", "epochs": "2", "strategy": "random"}


def api_call(base: str, token: str, method: str, path: str, body=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    check_chromium()
    root = tmp_path_factory.mktemp("ui")
    (root / "mlflow").mkdir()
    (root / "airflow").mkdir()
    mlflow_port = free_port()
    mlflow = start_server(root / "mlflow", mlflow_port)
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    password = secrets.token_urlsafe(12)
    try:
        with running_airflow(
            root / "airflow",
            password=password,
            MLFLOW_TRACKING_URI=mlflow_url,
            RETRAIN_SETTINGS=json.dumps(SETTINGS),
        ) as (env, base):
            status, body = api_call(
                base, "", "POST", "/auth/token", {"username": "admin", "password": password}
            )
            assert status in (200, 201), body
            yield {
                "base": base,
                "password": password,
                "token": body["access_token"],
                "mlflow": mlflow_url,
                "home": root / "airflow",
            }
    finally:
        stop_server(mlflow)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def wait_for_run(stack, dag_id: str, run_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status, run = api_call(
            stack["base"], stack["token"], "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        )
        if status == 200 and run["state"] in ("success", "failed"):
            return run
        if time.monotonic() > deadline:
            logs = "\n".join(
                p.read_text(errors="replace")[-3000:] for p in stack["home"].glob("*.log")
            )
            pytest.fail(f"run {run_id} did not finish in {timeout_s} s: {status} {run}\n{logs}")
        time.sleep(10)


def test_trigger_from_the_ui_and_see_the_model_in_mlflow(stack, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, stack["base"], "admin", stack["password"])

    page.goto(f"{stack['base']}/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    form.get_by_role("spinbutton", name="max_trials").fill(FORM["max_trials"])
    form.get_by_role("spinbutton", name="epochs").fill(FORM["epochs"])
    form.get_by_role("combobox", name="strategy").click()
    page.get_by_role("option", name=FORM["strategy"], exact=True).click()
    form.get_by_role("button", name="Advanced Options").click()
    form.get_by_role("textbox", name="Run ID").fill(RUN_ID)
    page.screenshot(path=str(ARTIFACTS / "1-trigger-form.png"), full_page=True)
    trigger = form.get_by_role("button", name="Trigger")
    assert trigger.is_enabled(), "the trigger form refuses its own defaults"
    trigger.click()

    # The run carries what the form said.
    run = wait_for_run(stack, DAG, RUN_ID, timeout_s=1500)
    assert {k: str(run["conf"][k]) for k in FORM} == FORM, run["conf"]
    assert run["state"] == "success", run

    page.goto(f"{stack['base']}/dags/{DAG}/runs/{RUN_ID}")
    page.get_by_text("success").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "2-dag-run-success.png"), full_page=True)
    # The DAG as the UI draws it: the README's picture (docs/images/dag.png is a copy of it).
    # The UI keeps its view and the graph's direction in the browser's local storage.
    page.evaluate(
        "window.localStorage.setItem('default_dag_view', JSON.stringify('graph'));"
        f"window.localStorage.setItem('direction-{DAG}', JSON.stringify('DOWN'))"
    )
    page.goto(f"{stack['base']}/dags/{DAG}/runs/{RUN_ID}")
    page.get_by_text("ExampleValidator").first.wait_for()
    page.wait_for_timeout(2000)  # the layout settles
    page.locator(".react-flow").first.screenshot(path=str(ARTIFACTS / "dag-graph.png"))

    page.goto(f"{stack['mlflow']}/#/models/{NAME}")
    page.get_by_text("Version 1").first.wait_for(timeout=60_000)
    assert NAME in page.content()
    page.get_by_text("champion").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "3-mlflow-registered-model.png"), full_page=True)
    for name in ("1-trigger-form", "2-dag-run-success", "dag-graph", "3-mlflow-registered-model"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, name


def test_an_asset_event_starts_only_its_dataset_s_dag_on_its_data(stack):
    base, token = stack["base"], stack["token"]
    folder = REPO / "data" / "diabetes"
    status, assets = api_call(base, token, "GET", "/api/v2/assets?limit=100")
    assert status == 200, assets
    (asset,) = [a for a in assets["assets"] if a["uri"] == folder.as_uri()]
    listeners = ("retrain_diabetes_on_data", "retrain_penguins_on_data", "retrain_on_data")
    for dag_id in listeners:
        status, body = api_call(
            base, token, "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}
        )
        assert status == 200, body
    status, event = api_call(
        base, token, "POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": {}}
    )
    assert status == 200, event
    deadline = time.monotonic() + 60
    runs = []
    while not runs and time.monotonic() < deadline:
        time.sleep(3)
        status, body = api_call(base, token, "GET", f"/api/v2/dags/{listeners[0]}/dagRuns")
        assert status == 200, body
        runs = [r for r in body["dag_runs"] if r["run_type"] == "asset_triggered"]
    assert runs, f"no run of {listeners[0]} within 60 s of the Asset event"
    run = wait_for_run(stack, listeners[0], runs[0]["dag_run_id"], timeout_s=1500)
    assert run["state"] == "success", run
    for other in listeners[1:]:  # the other Assets' DAGs did not hear of it
        status, body = api_call(base, token, "GET", f"/api/v2/dags/{other}/dagRuns")
        assert status == 200 and body["total_entries"] == 0, (other, body)
    # It trained on the folder of the Asset that fired.
    status, xcom = api_call(
        base,
        token,
        "GET",
        f"/api/v2/dags/{listeners[0]}/dagRuns/{run['dag_run_id']}/taskInstances/check_params"
        "/xcomEntries/return_value",
    )
    assert status == 200, xcom
    settings = xcom["value"] if isinstance(xcom["value"], dict) else json.loads(xcom["value"])
    assert settings["data"] == str(folder), settings["data"]
    assert settings["pipeline_name"] == "diabetes", settings

    # Two datasets, two registered models and two search experiments in one registry.
    from mlflow import MlflowClient

    client = MlflowClient(stack["mlflow"], registry_uri=stack["mlflow"])
    for model, experiment in (
        ("penguin_classifier", "penguins-nas"),
        ("diabetes_regressor", "diabetes-nas"),
    ):
        assert client.get_model_version_by_alias(model, "champion").version == "1", model
        assert client.get_experiment_by_name(experiment) is not None, experiment
    assert client.get_experiment_by_name("retrain-nas") is None  # no generic run here
