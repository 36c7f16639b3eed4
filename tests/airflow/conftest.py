"""Tests run in the Airflow environment. Airflow reads its config when first imported, so the
isolated AIRFLOW_HOME is set here, before any test module imports airflow."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from core import envs, waiting
from tests.airflow.http_sink import HttpSink
from tests.commands import last_json
from tests.mlflow_server import MLFLOW, start_server, stop_server  # noqa: F401 (shared)

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TFX_PYTHON = envs.tfx_python()

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-test-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# Feature importance and the TFLite files cost about 10 s per registered version, the data
# profile about 3 s per run. The DAG runs of this tree leave them off, except
# test_mlflow_registry's, which check them (CI's time limit). tests/pipeline checks the profile.
os.environ.setdefault(
    "RETRAIN_SETTINGS",
    json.dumps({"explain": False, "edge_export": False, "data_profile": False}),
)
# The trust boundary (dags/retrain_support/trust.py): the tests' data folders are temporary
# ones, as an operator's would be a mounted volume.
os.environ.setdefault("RETRAIN_ALLOWED_ROOTS", json.dumps([".", tempfile.gettempdir()]))
# As Airflow does for its DAG processor and workers: the DAGs folder is importable.
sys.path.insert(0, str(DAGS))

AIRFLOW = envs.AIRFLOW


def free_port() -> int:
    """A free TCP port on loopback, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The line `airflow dags test` prints when the run ends: (run id, state).
FINISHED = re.compile(r"DagRun Finished: dag_id=retrain, .*? run_id=([^,]+),.*? state=(\w+)")


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database (SQLite) in this session's AIRFLOW_HOME."""
    out = subprocess.run([AIRFLOW, "db", "migrate"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return os.environ["AIRFLOW_HOME"]


def airflow_cli(env: dict, *args: str, timeout: float = 600) -> str:
    """`airflow ARGS` with `env`; its stdout, or a failure showing its output."""
    out = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"airflow {' '.join(args)}:\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    )
    return out.stdout


@contextlib.contextmanager
def running_airflow(home: Path, password: str = "", gpu_slots: int = 1, **extra_env: str):
    """A real Airflow in a fresh AIRFLOW_HOME `home`: api-server (UI, REST API and the task
    execution API), scheduler on LocalExecutor and dag-processor, each logging to home/NAME.log.
    With `password`, the UI and API log in as admin with it; otherwise everyone is admin.
    Yields (env, base URL) once the API answers."""
    port = free_port()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="6",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        RETRAIN_SCHEDULE="none",
        RETRAIN_STATE_DIR=str(home / "state"),
        PYTHONUNBUFFERED="1",
    )
    if password:
        (home / "passwords.json").write_text(json.dumps({"admin": password}))
        env.update(
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        )
    else:
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    env.update(extra_env)
    airflow_cli(env, "db", "migrate")
    airflow_cli(env, "dags", "reserialize")
    airflow_cli(env, "pools", "set", "gpu", str(gpu_slots), "GPU slots for Tuner and Trainer")
    procs = []
    for name, args in [
        ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)]),
        ("scheduler", ["scheduler"]),
        ("dag-processor", ["dag-processor"]),
    ]:
        log = open(home / f"{name}.log", "w")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs.append((log, proc))
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if waiting.answers(f"{base}/api/v2/monitor/health"):
                return True
            assert procs[0][1].poll() is None, (home / "api-server.log").read_text()[-3000:]
            return False

        waiting.wait_until(up, 240, every_s=2, what="the API server")
        yield env, base
    finally:
        for log, proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            log.close()


# ---- shared by several test modules ----------------------------------------------------

# A password that must never show up anywhere: it sits in the environment and in an Airflow
# connection for every DAG run of this module.
SENTINEL = "Sentinel-Pa55-7f3c91"
SECRET_ENV = {
    "RETRAIN_TEST_PASSWORD": SENTINEL,
    "RETRAIN_MLMD_PASSWORD": SENTINEL,
    "AIRFLOW_CONN_WAREHOUSE": f"postgresql://etl:{SENTINEL}@warehouse.internal:5432/sales",
}


# The secret part of a webhook URL (Slack's carry it in the path): never in any log.
WEBHOOK_SECRET = "hook-Secret-93bd71"


def write_sample(folder: Path) -> Path:
    """Every second row of penguins (172 rows), missing values included, with the bundled
    dataset.json (label species, registered as penguin_classifier)."""
    with open(REPO / "data" / "penguins" / "penguins.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(folder / "penguins.csv", "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *rows[1::2]])
    shutil.copy(REPO / "data" / "penguins" / "dataset.json", folder)
    return folder


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("penguins"))


def dag_test(conf: dict, state_dir, on_line=None, **extra: str) -> tuple[str, str, str]:
    """`airflow dags test retrain` with `conf`, the state under `state_dir`, the secret
    environment and `extra`: (run id, state, the whole output). `on_line(line)` sees each line of
    output as it comes (to act in the middle of a run)."""
    env = dict(os.environ, RETRAIN_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    env.update(SECRET_ENV, **extra)
    run = subprocess.Popen(
        [AIRFLOW, "dags", "test", "retrain", "-c", json.dumps(conf)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(1200, run.kill)
    watchdog.start()
    lines = []
    try:
        for line in run.stdout:
            lines.append(line)
            if on_line:
                on_line(line)
        run.wait(60)
    finally:
        watchdog.cancel()
        if run.poll() is None:
            run.kill()
    log = "".join(lines)
    found = FINISHED.findall(log)
    assert found, f"the DAG run did not finish:\n{log[-5000:]}"
    run_id, state = found[-1]
    return run_id, state, log


def run_summary(run_id: str, metadata_path, tracking_uri: str = "") -> dict:
    """`pipelines.summary --json` of one pipeline run in the ML Metadata store at
    `metadata_path`: its nodes and their states, blessing, accuracy, where it was pushed (in
    the MLflow at `tracking_uri`; empty: the embedded store beside the metadata)."""
    settings = {"metadata_path": str(metadata_path)}
    if tracking_uri:
        settings["mlflow_tracking_uri"] = tracking_uri
    settings = json.dumps(settings)
    return last_json(
        [TFX_PYTHON, "-m", "pipelines.summary", "--run-id", run_id, "--settings", settings]
        + ["--json"],
        timeout=300,
    )


NAME = "penguin_classifier"


# The first shared run's MLflow outage: the server stops as the Pusher starts and comes back
# once Airflow has logged the retry. The client fails fast instead of MLflow's minutes of backoff.
OUTAGE_ENV = {
    "RETRAIN_RETRIES": "3",
    "RETRAIN_RETRY_DELAY_S": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


@pytest.fixture(scope="session")
def registry_runs(airflow_db, tmp_path_factory):
    """Three DAG runs on the penguins sample against one MLflow server, shared by
    test_end_to_end, test_mlflow_registry and test_mlflow_outage (each DAG run costs minutes of
    CI's time): two that pass, with explanations and TFLite files on, the first (full) through
    an MLflow outage during its push, the second (warm) with a baseline of the user's; then a
    retrain of the champion's architecture, forced to fail at the gate, with a webhook sink.
    Keys: 1, 2, log1, log2, failed, failed_log, webhook (what the sink got in the failed run),
    state, conf, mlflow (the URL), mlflow_root, outage (the events seen), versions1 and aliases1
    (the registry after the first run)."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    server = [start_server(root, port)]
    url = f"http://127.0.0.1:{port}"
    state = tmp_path_factory.mktemp("state")
    sample = write_sample(tmp_path_factory.mktemp("penguins"))
    # Run 1 trains 2 epochs, the warm run 5 more from its weights: the warm run's model is the
    # better one on the test rows, so it takes @champion (the gate moves it only then).
    conf = {"data": str(sample), "epochs": 2, "max_trials": 1}
    done = {"state": state, "conf": conf, "mlflow": url, "mlflow_root": root, "outage": []}

    def outage(line: str) -> None:
        if not done["outage"] and "node Pusher: launching" in line:
            stop_server(server[0])
            done["outage"].append("stopped")
        elif done["outage"] == ["stopped"] and "RETRAIN RETRY: node Pusher" in line:
            server[0] = start_server(root, port)  # back before Airflow's retry
            done["outage"].append("restarted")

    try:
        run_id, status, log = dag_test(
            conf, state, outage, MLFLOW_TRACKING_URI=url, RETRAIN_SETTINGS="{}", **OUTAGE_ENV
        )
        if done["outage"] == ["stopped"]:
            server[0] = start_server(root, port)
        assert status == "success", log[-5000:]
        done[1], done["log1"] = run_id, log
        client = MlflowClient(url, registry_uri=url)
        done["versions1"] = [v.version for v in client.search_model_versions(f"name = '{NAME}'")]
        done["aliases1"] = {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}
        # The second is warm (there is a champion now), with the user's own baseline beside
        # the candidates: test_mlflow_registry reads its leaderboard.
        baseline = str(REPO / "examples" / "baseline_model.py")
        warm = dict(conf, epochs=5, max_trials=6, baseline_module=baseline)
        run_id, status, log = dag_test(warm, state, MLFLOW_TRACKING_URI=url, RETRAIN_SETTINGS="{}")
        assert status == "success", log[-5000:]
        done[2], done["log2"] = run_id, log
        # The third retrains the champion's architecture (mode retrain), and fails at the gate:
        # it demands an accuracy of 1.5 (gate_min), which nothing meets.
        # People are told through a webhook too (its URL holds a secret, never to be logged).
        retrain = dict(conf, mode="retrain", gate_metric="accuracy", gate_min=1.5)
        with HttpSink() as sink:
            run_id, status, log = dag_test(
                retrain,
                state,
                MLFLOW_TRACKING_URI=url,
                RETRAIN_SETTINGS="{}",
                RETRAIN_NOTIFY_WEBHOOK=sink.url(f"/services/T0/B0/{WEBHOOK_SECRET}"),
            )
        done["failed"], done["failed_log"], done["webhook"] = run_id, log, sink.requests
        yield done
    finally:
        stop_server(server[0])


def api_call(method, url, token=None, body=None):
    """(HTTP status, JSON body; {} when empty) of one Airflow REST API call as the user of
    `token` (a JWT), through stack/client.py's request."""
    from stack.client import request

    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, answer = request(url, method, body, headers)
    return status, answer if answer != "" else {}
