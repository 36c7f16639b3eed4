"""Retraining DAGs (Airflow 3): every TFX pipeline node is one Airflow task.

Thin wiring only: this file never imports TFX or TensorFlow. Each node task runs
`python -m pipelines.run_node --run-id <dag run id> --node <node id> --settings <params>` in the
TFX environment, either through a warm executor (default: TFX imported once per DAG run) or in a
fresh process. Nodes find their inputs in ML Metadata, so only ids cross from Airflow.

- `retrain`: on a schedule (weekly by default; `RETRAIN_SCHEDULE`, e.g. "@daily" or "none").
- `retrain_on_data`: whenever the data Asset is updated.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, task
from retrain_support import containers, csv_check, node_client

REPO = Path(__file__).resolve().parent.parent
# Airflow puts dags/ on sys.path; the settings contract is in the repository's core/ (standard
# library only, as are the engine modules it reads: never TFX or Keras).
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
from core import settings as contract  # noqa: E402

# The pipeline environment's interpreter; `make setup` creates it at .venv/tfx.
TFX_PYTHON = os.environ.get("RETRAIN_TFX_PYTHON", str(REPO / ".venv" / "tfx" / "bin" / "python"))
# Where ML Metadata, the pipeline root and the embedded MLflow store (SQLite) live by default.
STATE_DIR = Path(os.environ.get("RETRAIN_STATE_DIR", str(REPO / ".local")))
# Per-step containers ($RETRAIN_CONTAINERS, retrain_support/containers.py); off by default.
CONTAINERS = containers.ContainerConfig.from_env()
if CONTAINERS.state_dir:
    STATE_DIR = Path(CONTAINERS.state_dir)
DATA_URI = os.environ.get("RETRAIN_DATA_ASSET", (REPO / "data" / "penguins").as_uri())

# The pipeline's nodes and their upstream nodes, as compiled from pipelines/retrain.py.
# tests/airflow/test_topology.py fails if this drifts from the compiled TFX pipeline.
NODES: dict[str, list[str]] = {
    "ExampleGen": [],
    "StatisticsGen": ["ExampleGen"],
    "SchemaGen": ["StatisticsGen"],
    "PreviousSpanResolver": [],
    "ExampleValidator": ["PreviousSpanResolver", "SchemaGen", "StatisticsGen"],
    "Transform": ["ExampleGen", "ExampleValidator", "SchemaGen"],
    "ChampionResolver": [],
    "Tuner": ["ChampionResolver", "Transform"],
    "Trainer": ["SchemaGen", "Transform", "Tuner"],
    "Evaluator": ["ChampionResolver", "ExampleGen", "Trainer"],
    "Pusher": ["ChampionResolver", "Evaluator", "ExampleGen", "Trainer", "Transform", "Tuner"],
}
GPU_NODES = {"Tuner", "Trainer"}
GPU_POOL = os.environ.get("RETRAIN_GPU_POOL", "gpu")

# Every Param from the settings contract (core/settings.py): type, rules, default, description.
PARAMS = {s.name: Param(**s.param()) for s in contract.params()}
# Params that become pipeline settings (pipelines/settings.py: Settings); the rest steer the DAG.
SETTING_PARAMS = [s.name for s in contract.params() if s.scope == contract.PIPELINE]

log = logging.getLogger("retrain")


def pipeline_settings(params: dict, dag_id: str = "", run_id: str = "") -> dict:
    """Pipeline settings for one run: the Params, the deployment's paths, and
    RETRAIN_SETTINGS (a JSON object of further pipeline settings, set by operators, not users)."""
    # An optional Param left empty is null (the trigger form sends it so): the pipeline's default.
    settings = {k: params[k] for k in SETTING_PARAMS if params.get(k) is not None}
    settings.update(
        pipeline_root=str(STATE_DIR / "pipeline_root"),
        metadata_path=str(STATE_DIR / "metadata.sqlite"),
        mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""),
        lineage={"airflow_dag_id": dag_id, "airflow_run_id": run_id},
    )
    settings.update(json.loads(os.environ.get("RETRAIN_SETTINGS") or "{}"))
    return settings


def _report(context, level: int, tag: str, attempt: str) -> None:
    """One readable line: `tag: node N of DAG run R <attempt>: <the error's last line>`."""
    ti = context["ti"]
    why = str(context.get("exception") or "unknown error").strip().splitlines()
    log.log(
        level,
        "%s: node %s of %s run %s %s: %s",
        tag,
        ti.task_id,
        ti.dag_id,
        ti.run_id,
        attempt.format(try_number=ti.try_number),
        why[-1] if why else "unknown error",
    )


def report_failure(context) -> None:
    """A node failed for good (no retries left)."""
    _report(context, logging.ERROR, "RETRAIN FAILED", "(try {try_number})")


def report_retry(context) -> None:
    """A try failed and Airflow will retry the node."""
    _report(
        context,
        logging.WARNING,
        "RETRAIN RETRY",
        "failed on try {try_number} and will be retried",
    )


DEFAULT_ARGS = {
    "retries": int(os.environ.get("RETRAIN_RETRIES", "2")),
    "retry_delay": timedelta(seconds=int(os.environ.get("RETRAIN_RETRY_DELAY_S", "30"))),
    # Airflow 3.3: a float multiplier (True would mean 1.0, a constant delay).
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": report_failure,
    "on_retry_callback": report_retry,
}


def build_retrain_dag(dag_id: str, schedule, description: str):
    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        # One run at a time by default: two runs of one DAG push to the same registered model.
        # Runs on different data may overlap (RETRAIN_MAX_ACTIVE_RUNS); ML Metadata copes.
        max_active_runs=int(os.environ.get("RETRAIN_MAX_ACTIVE_RUNS", "1")),
        params=PARAMS,
        default_args=DEFAULT_ARGS,
        tags=["tfx", "nas", "retraining"],
        description=description,
        doc_md=__doc__,
    )
    def retrain():
        @task(retries=0)
        def check_params(params=None, dag_run=None) -> dict:
            """Fails the run before any node starts if the data cannot be used."""
            settings = pipeline_settings(params, dag_run.dag_id, dag_run.run_id)
            data = Path(settings["data"])
            data = data if data.is_absolute() else REPO / data
            if not data.is_dir():
                raise ValueError(f"param data: {data} is not a folder")
            if not any(p.is_file() for p in data.iterdir()):
                raise ValueError(f"param data: folder {data} holds no files")
            problems = csv_check.check_folder(data)
            for problem in problems:
                log.error("DATA ANOMALY: %s", problem)
            if problems:
                more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
                raise ValueError(
                    f"data {data} cannot be ingested: " + "; ".join(problems[:3]) + more
                )
            if CONTAINERS.enabled and settings.get("parallel_trials"):
                raise ValueError(
                    "param parallel_trials: parallel trials run on the scheduler's hosts; "
                    f"they are not available with ${containers.ENV} yet"
                )
            if not CONTAINERS.enabled and not Path(TFX_PYTHON).exists():
                raise FileNotFoundError(
                    f"TFX environment not found at {TFX_PYTHON}; run `make setup` "
                    "or set RETRAIN_TFX_PYTHON"
                )
            return settings

        @task
        def start_executor(params=None, dag_run=None) -> str | None:
            if params["executor"] != "warm" or CONTAINERS.enabled:
                return None
            path = node_client.socket_path(dag_run.dag_id, dag_run.run_id)
            node_client.start_executor(TFX_PYTHON, REPO, path)
            return path

        @task
        def stop_executor(executor_socket: str | None) -> None:
            if executor_socket:
                node_client.stop_executor(executor_socket)

        def node_task(node: str):
            pool = GPU_POOL if node in GPU_NODES else "default_pool"
            if CONTAINERS.enabled:
                # The node in the pipeline image; it reads the settings from check_params's XCom.
                def in_container(settings, _executor):
                    op = containers.node_operator(
                        CONTAINERS, node, node in GPU_NODES, task_id=node, pool=pool
                    )
                    settings >> op
                    return op

                return in_container

            @task(task_id=node, pool=pool)
            def run(settings: dict, executor_socket: str | None, dag_run=None) -> dict:
                argv = node_client.node_argv(dag_run.run_id, node, settings)
                result = node_client.run_node(
                    TFX_PYTHON, REPO, argv, socket=executor_socket, on_line=log.info
                )
                log.info("node %s: %s", node, result.get("state"))
                return result

            return run

        @task
        def tuner_workers(settings: dict) -> list[int]:
            """One index per parallel-trials worker (none: the mapped task is skipped)."""
            return list(range(int(settings.get("parallel_trials") or 0)))

        @task(task_id="TunerWorker", pool=GPU_POOL)
        def tuner_worker(index: int, settings: dict, executor_socket: str | None, dag_run=None):
            """Runs trials for the Tuner's search (components/nas_tuner/worker.py)."""
            argv = node_client.node_argv(dag_run.run_id, "Tuner", settings)
            result = node_client.run_node(
                TFX_PYTHON,
                REPO,
                [*argv, "--worker", str(index)],
                socket=executor_socket,
                on_line=log.info,
            )
            log.info("Tuner worker %d: %s trial(s)", index, result.get("trials"))
            return result

        settings = check_params()
        executor = start_executor()
        settings >> executor
        tasks = {node: node_task(node)(settings, executor) for node in NODES}
        for node, upstream in NODES.items():
            for up in upstream:
                tasks[up] >> tasks[node]
        stop = stop_executor(executor).as_teardown(setups=executor)
        for t in tasks.values():
            t >> stop
        if not CONTAINERS.enabled:
            workers = tuner_worker.partial(settings=settings, executor_socket=executor).expand(
                index=tuner_workers(settings)
            )
            tasks["Transform"] >> workers
            workers >> stop

    return retrain()


_schedule = os.environ.get("RETRAIN_SCHEDULE", "@weekly")
retrain = build_retrain_dag(
    "retrain",
    None if _schedule.lower() == "none" else _schedule,
    "Scheduled retraining: ingest, validate, transform, search, train, evaluate, push.",
)
retrain_on_data = build_retrain_dag(
    "retrain_on_data",
    [Asset(name="retrain_data", uri=DATA_URI)],
    "Retraining whenever the data Asset is updated.",
)
