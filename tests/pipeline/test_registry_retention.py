"""Registry retention and rollback after it, as operators run them: the `retention` DAG (through
`airflow dags test`, its task running pipelines.retention in this environment) and the `rollback`
DAG, against a real `mlflow server` (SQLite store, proxied artifacts) and a real ML Metadata store.

Set-up registers seven versions of one model with MLflow's client, each a logged pyfunc model
with a run artifact, and records their ML Metadata model artifacts (one pipeline run each) as
TFX's Trainer would: @champion moved 1 -> 3 -> 5 through core.promotion.make_champion, 2 and 4
were only ever @challenger, 6 is @challenger, 7 was registered by hand (no ML Metadata lineage).
Retention with keep_champions 2 and keep_days 0 must remove 1, 2 and 4 (the versions, their runs
and logged models with their artifacts, and their ML Metadata model files) and keep 3 (the
champion before 5, its model artifact though its run goes), 5, 6 and 7; then the rollback DAG
moves @champion back to 3, which loads and predicts.

It lives in this tree, not tests/airflow: the Airflow tree is make test's longer one. On
2026-12-06 it took 303 s and 347 s (96 s of CPU) on the shared 2-core machine at load 6 to 8,
the MLflow server's start and stop 100 s of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import names, promotion
from pipelines.settings import REPO
from tests.mlflow_server import start_server, stop_server
from tests.pipeline.test_settings_contract import AIRFLOW_PYTHON

AIRFLOW = str(Path(AIRFLOW_PYTHON).parent / "airflow")
MODEL = "retained"

try:
    import mlflow.pyfunc

    class Constant(mlflow.pyfunc.PythonModel):
        """A pyfunc model that answers its version number for every row."""

        def __init__(self, value: int):
            self.value = value

        def predict(self, context, model_input, params=None):
            return [self.value] * len(model_input)

except ImportError:  # pragma: no cover (the TFX environment has MLflow)
    Constant = None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlmd_models(metadata: Path, root: Path, runs: int) -> list[tuple[int, str]]:
    """`runs` pipeline runs in a new ML Metadata store, each a Trainer execution with one Model
    artifact (files under `root`, as TFX lays them out): [(artifact id, uri)]."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    metadata.parent.mkdir(parents=True, exist_ok=True)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    trainer_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    run_type = store.put_context_type(pb.ContextType(name="pipeline_run"))
    out = []
    for i in range(1, runs + 1):
        context = pb.Context(type_id=run_type, name=f"run-{i}")
        [context.id] = store.put_contexts([context])
        execution = pb.Execution(type_id=trainer_type, last_known_state=pb.Execution.COMPLETE)
        [execution_id] = store.put_executions([execution])
        uri = root / "Trainer" / "model" / str(execution_id)
        (uri / "Format-Serving").mkdir(parents=True)
        (uri / "Format-Serving" / "saved_model.pb").write_bytes(b"x" * 1000)
        artifact = pb.Artifact(type_id=model_type, uri=str(uri), state=pb.Artifact.LIVE)
        event = pb.Event(type=pb.Event.OUTPUT)
        execution.id = execution_id
        _, [artifact_id], _ = store.put_execution(execution, [(artifact, event)], [context])
        out.append((artifact_id, str(uri)))
        time.sleep(0.01)  # creation order is run order
    return out


def register(url: str, models: list[tuple[int, str]]) -> dict[int, dict]:
    """Versions 1-7 (see the module's docstring); version -> its run id and logged model id."""
    import mlflow

    mlflow.set_tracking_uri(url)
    # The registry too: an earlier test in this process may have pointed MLflow's registry at
    # its own store (mlflow.register_model uses the process's registry URI).
    mlflow.set_registry_uri(url)
    client = mlflow.MlflowClient(url, registry_uri=url)
    experiment = client.create_experiment("retained-models")
    made = {}
    for i in range(1, 8):
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_text(f"run of version {i}", "notes/run.txt")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Constant(i), pip_requirements=["mlflow"]
            )
        tags = {}
        if i <= len(models):
            artifact_id, uri = models[i - 1]
            tags = {
                names.TAG_PIPELINE_RUN: f"run-{i}",
                names.TAG_MODEL_ARTIFACT_ID: str(artifact_id),
                names.TAG_MODEL_URI: uri,
            }
        version = mlflow.register_model(info.model_uri, MODEL, tags=tags)
        assert version.version == str(i)
        made[i] = {"run": run.info.run_id, "model": info.model_id}
        if i in (1, 3, 5):
            promotion.make_champion(client, MODEL, i, f"version {i} passed the gate")
            time.sleep(1.1)  # champion.at has one-second steps
        if i in (2, 4, 6):
            client.set_registered_model_alias(MODEL, names.CHALLENGER, str(i))
    return made


def airflow(home: Path, env: dict, *args: str) -> str:
    out = subprocess.run(
        [AIRFLOW, *args],
        env=dict(env, AIRFLOW_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    return log


def result_of(log: str, key: str) -> dict:
    [line] = [ln for ln in log.splitlines() if key in ln and "RESULT " in ln][-1:]
    return json.JSONDecoder().raw_decode(line.split("RESULT ", 1)[1])[0]


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = start_server(root, port)
    yield f"http://127.0.0.1:{port}", root
    stop_server(proc)


def test_retention_removes_old_versions_keeps_the_rollback_targets_and_rollback_works(
    server, tmp_path
):
    url, mlflow_root = server
    state = tmp_path / "state"
    root = state / "pipeline_root"
    models = mlmd_models(state / "metadata.sqlite", root, runs=6)
    made = register(url, models)
    artifacts_before = files(mlflow_root / "artifacts")
    for i in (1, 2, 4):
        assert any(made[i]["run"] in f for f in artifacts_before), i
        assert any(made[i]["model"] in f for f in artifacts_before), i
    settings = {"metadata_path": str(state / "metadata.sqlite"), "pipeline_root": str(root)}
    settings["mlflow_tracking_uri"] = url

    # A dry run at the default retention_keep_days (30): every version is young, none goes.
    dry = subprocess.run(
        [sys.executable, "-m", "pipelines.retention", "--settings", json.dumps(settings)]
        + ["--keep-runs", "1", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = result_of(dry.stdout, '"versions_removed"')
    assert planned["versions_removed"] == [], planned
    assert "younger than 30" in planned["versions_kept"][f"{MODEL}/2"], planned

    # The retention DAG, as the operator runs it.
    home = tmp_path / "airflow"
    env = dict(os.environ, RETRAIN_STATE_DIR=str(state), MLFLOW_TRACKING_URI=url)
    env["RETRAIN_RETENTION_SCHEDULE"] = "none"
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    airflow(home, env, "db", "migrate")
    conf = {"keep_runs": 1, "keep_champions": 2, "keep_days": 0}
    log = airflow(home, env, "dags", "test", "retention", "-c", json.dumps(conf))
    assert "state=success" in log, log[-5000:]
    summary = result_of(log, '"versions_removed"')
    assert summary["versions_removed"] == [f"{MODEL}/1", f"{MODEL}/2", f"{MODEL}/4"], summary
    assert summary["versions_kept"] == {
        f"{MODEL}/3": "one of the last 2 champion(s)",
        f"{MODEL}/5": "@champion",
        f"{MODEL}/6": "@challenger",
    }, summary  # 7 has no lineage in this store: not this pass's to judge
    assert summary["kept"] == {
        "run-6": "one of the last 1",
        "run-5": f"registered {MODEL}@champion",
    }

    from mlflow import MlflowClient

    client = MlflowClient(url, registry_uri=url)
    left = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
    assert left == [3, 5, 6, 7]
    artifacts_after = files(mlflow_root / "artifacts")
    for i in (1, 2, 4):  # their runs and logged models, artifacts and all
        assert client.get_run(made[i]["run"]).info.lifecycle_stage == "deleted"
        assert not [f for f in artifacts_after if made[i]["run"] in f or made[i]["model"] in f], i
    for i in (3, 5, 6, 7):
        assert client.get_run(made[i]["run"]).info.lifecycle_stage == "active"
        assert any(made[i]["model"] in f for f in artifacts_after), i
    # ML Metadata: the removed versions' model files are gone; version 3's stays (its run went),
    # as do those of the kept runs.
    for i, (_, uri) in enumerate(models, start=1):
        assert os.path.isdir(uri) == (i in (3, 5, 6)), (i, uri)

    # The rollback DAG goes back to the champion before 5: 3 (2 and 4 were only @challenger).
    conf = {"model": MODEL, "reason": "serving errors after version 5"}
    log = airflow(home, env, "dags", "test", "rollback", "-c", json.dumps(conf))
    assert "state=success" in log, log[-5000:]
    assert f"ROLLBACK: {MODEL}@champion version 5 -> 3 (serving errors after version 5)" in log
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.version == "3"
    tags = champion.tags
    assert (tags["champion.by"], tags["rollback.from_version"]) == ("rollback", "5"), tags
    import mlflow.pyfunc
    import pandas as pd

    mlflow.set_tracking_uri(url)
    served = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    assert list(served.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [3, 3]

    # Nothing before 3 is left to go back to (1 was removed, 5 was rolled back from): refused
    # in one line, naming what there is; nothing moves.
    refused = subprocess.run(
        [sys.executable, "-m", "pipelines.rollback", "--model", MODEL, "--reason", "again"]
        + ["--settings", json.dumps({"mlflow_tracking_uri": url})],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stdout[-2000:]
    assert "ROLLBACK REFUSED: retained@champion is version 3 and no earlier champion" in (
        refused.stderr
    ), refused.stderr[-2000:]
    assert client.get_model_version_by_alias(MODEL, "champion").version == "3"
