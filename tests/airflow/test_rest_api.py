"""Invalid trigger Params are refused by a running Airflow API server, before any run exists.

The test starts `airflow api-server` on a free loopback port with one admin user whose password
is generated here, gets a JWT from /auth/token, and triggers the `retrain` DAG through
/api/v2/dags/retrain/dagRuns."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest

from tests.airflow.conftest import AIRFLOW, api_call, free_port

DAG = "retrain"


@pytest.fixture(scope="module")
def api(airflow_db, tmp_path_factory):
    home = tmp_path_factory.mktemp("api")
    password = secrets.token_urlsafe(16)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    env = dict(
        os.environ,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
    )
    out = subprocess.run(
        [AIRFLOW, "dags", "reserialize"], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    port = free_port()
    log = open(home / "api-server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            try:
                status, _ = api_call("GET", f"{base}/api/v2/monitor/health")
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, (home / "api-server.log").read_text()[-3000:]
            assert time.time() < deadline, "the API server did not come up in 240 s"
            time.sleep(2)
        status, body = api_call(
            "POST", f"{base}/auth/token", body={"username": "admin", "password": password}
        )
        assert status in (200, 201), body
        yield base, body["access_token"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _runs(base, token) -> int:
    status, body = api_call("GET", f"{base}/api/v2/dags/{DAG}/dagRuns", token)
    assert status == 200, body
    return body["total_entries"]


@pytest.mark.parametrize(
    "conf, key",
    [
        ({"max_trials": 0}, "max_trials"),
        ({"strategy": "simulated_annealing"}, "strategy"),
        ({"search_fidelity": {"width": 2}}, "search_fidelity"),
        ({"seed": 0}, "seed"),
        ({"gate_min": "high"}, "gate_min"),
        ({"successive_halving": "yes"}, "successive_halving"),
    ],
)
def test_bad_params_are_refused_by_the_running_api_server(api, conf, key):
    base, token = api
    before = _runs(base, token)
    status, body = api_call(
        "POST", f"{base}/api/v2/dags/{DAG}/dagRuns", token, {"logical_date": None, "conf": conf}
    )
    assert status == 400, (status, body)
    assert key in json.dumps(body), body
    assert _runs(base, token) == before  # no run was created, so no node ran


def test_good_params_are_accepted_by_the_same_endpoint(api):
    """The refusals above are about the Params, not about the endpoint or the token."""
    base, token = api
    before = _runs(base, token)
    status, body = api_call(
        "POST",
        f"{base}/api/v2/dags/{DAG}/dagRuns",
        token,
        {"logical_date": None, "conf": {"max_trials": 2, "strategy": "random"}},
    )
    assert status == 200, body
    assert body["conf"]["max_trials"] == 2 and body["state"] == "queued"
    assert _runs(base, token) == before + 1
    status, _ = api_call("GET", f"{base}/api/v2/dags/{DAG}/dagRuns", token=None)
    assert status in (401, 403)  # and nothing without a token
