"""The served @champion on real processes: the shared DAG runs' registered penguin models
(conftest.registry_runs) on their MLflow server, copied to a model of this module's own (so the
other modules' aliases stay as they are); the serving front (`python -m serving`) and MLflow's
scoring servers it starts; serving/deploy.py, the code deploy_new_model runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from core import envs, names, promotion, waiting
from tests.airflow.conftest import NAME, REPO, free_port
from tests.airflow.registry_flows import invoke, logged_rows

MODEL = "penguin_serving"


def pyfunc_verdict(model: str, version: str, url: str) -> dict:
    """serving/smoke.py's verdict on what `url` serves, run here in the TFX environment (the
    deploy has the front run it in a spare Python; this is the test's own check)."""
    from serving import setting

    argv = [envs.tfx_python(), "-m", "serving.smoke", "--model-uri", f"models:/{model}/{version}"]
    argv += ["--url", url, "--rows", str(setting("serving_smoke_rows"))]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=envs.REPO, timeout=900)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert out.returncode == 0 and lines, (out.returncode, out.stderr[-2000:])
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def registry(registry_runs, monkeypatch_module):
    """Versions 1 and 2 of the DAG runs' model as MODEL 1 and 2, and MODEL 3: version 2 with its
    SavedModel broken (a version whose pyfunc cannot load)."""
    import mlflow
    from mlflow import MlflowClient

    url = registry_runs["mlflow"]
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", url)  # this module's MLflow calls
    client = MlflowClient(url, registry_uri=url)
    for version in ("1", "2"):
        client.copy_model_version(f"models:/{NAME}/{version}", MODEL)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/2"))
    [pb] = local.glob("artifacts/*/saved_model.pb")
    pb.write_bytes(b"not a SavedModel")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
    assert mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL).version == "3"
    return client


@pytest.fixture(scope="module")
def front(registry, tmp_path_factory, monkeypatch_module):
    """The serving front on a free port (no token: loopback clients only); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch_module.setenv("RETRAIN_SERVING_URL", url)
    monkeypatch_module.setenv("RETRAIN_SERVING_MODEL", MODEL)  # no @champion yet: none serves
    monkeypatch_module.setenv("RETRAIN_SERVING_DRAIN_S", "30")
    state = tmp_path_factory.mktemp("serving")
    with open(state / "front.log", "w") as log:
        proc = subprocess.Popen(
            [envs.AIRFLOW_PYTHON, "-m", "serving", "--state-dir", str(state)],
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        waiting.wait_until(lambda: waiting.answers(f"{url}/-/health"), 120, what="the front")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def rows_of(version: str) -> bytes:
    """The serving JSON of the rows logged with the version (its input example)."""
    return logged_rows(MODEL, version)


def test_deploys_v1_then_switches_to_v2_without_a_failed_request(registry, front):
    from serving import deploy

    promotion.make_champion(registry, MODEL, "1", "test")
    assert deploy.deploy(registry, MODEL, "1") == {"deployed": "1", "previous": None}
    body = rows_of("1")
    assert invoke(front, body) == (200, "1")

    promotion.make_champion(registry, MODEL, "2", "test")
    old = deploy.Control().serving()["url"]  # version 1's model server
    answers: list[tuple[float, int, str]] = []  # (started, status, version)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            answers.append((time.monotonic(), *invoke(front, body)))

    load = [threading.Thread(target=client) for _ in range(4)]
    for t in load:
        t.start()
    try:
        assert deploy.deploy(registry, MODEL, "2") == {"deployed": "2", "previous": "1"}
        switched = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for t in load:
            t.join(150)
    failed = [a for a in answers if a[1] != 200]
    assert not failed and len(answers) > 20, (len(answers), failed[:5])
    assert {v for _, _, v in answers} == {"1", "2"}, "the load did not span the switch"
    assert {v for started, _, v in answers if started > switched} == {"2"}

    # The front's answers are the registered pyfunc's, loaded in process (TFX environment).
    verdict = pyfunc_verdict(MODEL, "2", front)
    assert verdict["ok"], verdict["why"]
    species = {"Adelie", "Chinstrap", "Gentoo"}  # the 5 logged rows may all be one species
    assert verdict["rows"] == 5 and {r["class"] for r in verdict["served"]} <= species, verdict
    # Version 1's server is stopped once drained.
    status = deploy.Control().status()
    assert status["serving"]["version"] == "2" and status["started"] == [], status
    assert waiting.wait_until(lambda: not waiting.answers(f"{old}/ping"), 60, quiet=True), old


def test_a_failed_smoke_test_keeps_the_old_version_serving_and_champion_back(registry, front):
    from serving import deploy

    assert deploy.Control().serving()["version"] == "2"
    promotion.make_champion(registry, MODEL, "3", "test: the gate promoted a broken version")
    told: list[str] = []
    with pytest.raises(deploy.DeployFailed, match="version 3 failed its deploy smoke test") as e:
        deploy.deploy(registry, MODEL, "3", notify=told.append)
    assert "version 2 still serves, @champion put back to version 2" in str(e.value)
    assert told == [str(e.value)]
    # The old version answers, as before; @champion is where it was, with the reason.
    assert invoke(front, rows_of("2")) == (200, "2")
    assert deploy.Control().status()["started"] == []
    champion = registry.get_model_version_by_alias(MODEL, names.CHAMPION)
    assert champion.version == "2"
    assert champion.tags[names.TAG_CHAMPION_REASON] == deploy.SMOKE_REASON
    assert champion.tags[names.TAG_CHAMPION_FROM] == "3"


def test_the_control_endpoints_need_the_token(registry_runs, tmp_path):
    """With $RETRAIN_SERVING_TOKEN set, a switch without it (or with another) is refused, and
    the public endpoints still answer."""
    from serving import deploy

    url = f"http://127.0.0.1:{free_port()}"
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        MLFLOW_TRACKING_URI=registry_runs["mlflow"],
        RETRAIN_SERVING_URL=url,
        RETRAIN_SERVING_MODEL="no_such_model",
        RETRAIN_SERVING_TOKEN="t0ken-for-this-test",
    )
    proc = subprocess.Popen(
        [envs.AIRFLOW_PYTHON, "-m", "serving", "--state-dir", str(tmp_path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        waiting.wait_until(lambda: waiting.answers(f"{url}/-/health"), 120, what="the front")
        for token in ("", "wrong"):
            with pytest.raises(deploy.DeployFailed, match="HTTP 403"):
                deploy.Control(url, token).switch("1")
        assert deploy.Control(url, "t0ken-for-this-test").status() == {
            "serving": None,
            "started": [],
        }
        assert invoke(url, b"{}") == (503, "")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def test_the_webhook_check_agrees_with_mlflows_signer():
    """core/registry_webhook.verify takes what MLflow's own delivery code signs, and refuses a
    changed body, another secret, a stale timestamp and a missing signature (the stack's
    receiver: test_production)."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    from core import registry_webhook as hook

    move = {"name": MODEL, "alias": "champion", "version": "2"}
    body = json.dumps({"entity": "model_version_alias", "action": "created", "data": move})
    stamp = str(int(time.time()))
    signed = {
        hook.DELIVERY_HEADER: "d-1",
        hook.TIMESTAMP_HEADER: stamp,
        hook.SIGNATURE_HEADER: _generate_hmac_signature("s3cret", "d-1", stamp, body),
    }
    hook.verify("s3cret", signed, body.encode())
    assert hook.champion_moved(body.encode()) == {
        "model": MODEL,
        "version": "2",
        "alias": "champion",
    }
    late = str(int(stamp) - hook.TOLERANCE_S - 5)
    refusals = [
        ("s3cret", signed, body.replace('"2"', '"1"')),
        ("other", signed, body),
        ("s3cret", {**signed, hook.TIMESTAMP_HEADER: late}, body),
        ("s3cret", {k: v for k, v in signed.items() if k != hook.SIGNATURE_HEADER}, body),
        ("", signed, body),
    ]
    for secret, headers, text in refusals:
        with pytest.raises(hook.Refused):
            hook.verify(secret, headers, text.encode())
    challenger = body.replace('"champion"', '"challenger"').encode()
    assert hook.champion_moved(challenger) is None
