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
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, task
from retrain_support import containers, csv_check, node_client

REPO = Path(__file__).resolve().parent.parent
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

# Equal to pipelines/retrain.py's SPACES and STRATEGIES (tests/airflow/test_params.py checks).
SPACES = ["chain", "graph", "cells"]
STRATEGIES = ["evolution", "reinforce", "random", "bayesian", "hyperband", "grid"]
# Optional Params take null as well ("null" in their type): Airflow's trigger form marks a
# required field with an empty value ("" or []) as missing and will not trigger.
PARAMS = {
    "data": Param(
        "data/penguins",
        type="string",
        minLength=1,
        description="Folder of CSV (or TFRecord) files; relative paths are from the repository.",
    ),
    "label": Param(
        None,
        type=["null", "string"],
        minLength=1,
        description="Label column. Empty: the data folder's dataset.json names it (else species).",
    ),
    "task": Param(
        "auto",
        type="string",
        enum=["auto", "classification", "regression"],
        description="auto: regression for a numeric label with more than 20 distinct values, "
        "else classification.",
    ),
    "rmse_threshold": Param(
        None,
        type=["null", "number"],
        minimum=0,
        description="Regression: the Evaluator's upper bound on RMSE (empty: none).",
    ),
    "explain": Param(
        True,
        type="boolean",
        description="Log permutation and SHAP feature importance with each registered version.",
    ),
    "max_rmse_increase": Param(
        0.05,
        type="number",
        minimum=0,
        description="Regression: the largest relative RMSE increase over the champion (0.05: 5%).",
    ),
    "drift_threshold": Param(
        0.3,
        type="number",
        minimum=0,
        maximum=1,
        description="Stop the run when a column drifted this far from the last accepted data "
        "from the same folder (L-infinity for categorical, Jensen-Shannon for numeric). 0: off.",
    ),
    "allowed_anomalies": Param(
        [],
        type=["null", "array"],
        # "column", "column:KIND" or "*:KIND"; "*" alone would accept everything
        items={"type": "string", "pattern": r"^(\*:[A-Z_]+|[^:*][^:]*(:[A-Z_*]+)?)$"},
        description='Known anomalies to accept, e.g. ["island:ENUM_TYPE_UNEXPECTED_STRING_VALUES"] '
        'or ["body_mass_g"]: "column", "column:KIND" or "*:KIND".',
    ),
    "schema_file": Param(
        None,
        type=["null", "string"],
        description="A curated schema.pbtxt to validate against. Empty: the schema of the last "
        "accepted data from the same folder.",
    ),
    "accuracy_threshold": Param(
        0.9, type="number", minimum=0, maximum=1, description="Evaluator's absolute accuracy bar."
    ),
    "space": Param(
        "chain",
        type="string",
        enum=SPACES,
        description="NAS search space: chain (layers in sequence), graph (branches and skip "
        "connections) or cells (normal and reduction cells).",
    ),
    "strategy": Param(
        "evolution",
        type="string",
        enum=STRATEGIES,
        description="NAS search strategy: regularized evolution, REINFORCE controller, or "
        "KerasTuner's random, Bayesian, Hyperband, grid.",
    ),
    "max_trials": Param(3, type="integer", minimum=1, description="Search trials."),
    "parallel_trials": Param(
        0,
        type="integer",
        minimum=0,
        maximum=64,
        description="Worker tasks that run search trials beside the Tuner (KerasTuner's "
        "distributed mode: one oracle, N workers). They run in the gpu pool with the Tuner, "
        "so give the pool N + 1 slots. 0: the Tuner alone.",
    ),
    "time_budget_min": Param(
        30, type="number", exclusiveMinimum=0, description="Search time budget in minutes."
    ),
    "epochs": Param(10, type="integer", minimum=1, description="Epochs per trial and training."),
    "seed": Param(42, type="integer", minimum=1, description="Seed of the search and training."),
    "search_fidelity": Param(
        {},
        type=["null", "object"],
        properties={
            "data_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "epochs": {"type": "integer", "minimum": 0},
            "width": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "fewer_cells": {"type": "integer", "minimum": 0},
            "resolution": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
        additionalProperties=False,
        description='Lower fidelity during search, e.g. {"epochs": 3, "data_fraction": 0.5, '
        '"width": 0.5}. Empty: full fidelity. The Trainer always trains at full fidelity.',
    ),
    "curve_stop": Param(
        True, type="boolean", description="Stop trials whose learning curve cannot beat the best."
    ),
    "inherit_weights": Param(
        True, type="boolean", description="Start children from their parent's trained weights."
    ),
    "successive_halving": Param(
        False,
        type="boolean",
        description="At epochs 1 and 3, stop trials outside the top third of earlier trials.",
    ),
    "morphism": Param(
        False,
        type="boolean",
        description="Evolution proposes function-preserving widen/deepen children (Net2Net).",
    ),
    "mode": Param(
        "warm",
        type="string",
        enum=["warm", "full", "retrain"],
        description="Retraining mode. warm (the default, also for scheduled runs): seed the "
        "search with the champion, from its weights, and the last search's leader, and run a "
        "quarter of max_trials. full: a fresh search. retrain: no search; retrain the champion's "
        "architecture on the new data from its weights. warm and retrain search fully while "
        "there is no champion.",
    ),
    "promote_trial": Param(
        None,
        type=["null", "string"],
        description="Train this candidate of an earlier search at full fidelity instead of "
        "searching (e.g. when a smaller model is preferred): TRIAL of the latest search or "
        "RUN_ID:TRIAL, as `make leaderboard` lists them. It passes the same gate and pusher.",
    ),
    "baseline_module": Param(
        None,
        type=["null", "string"],
        description="Your own model as a baseline: a Python file with build_model(hp, "
        "input_spec) (see examples/baseline_model.py), trained beside the candidates on the "
        "same data and budget, listed as 'baseline' on the leaderboard, pushed if it wins.",
    ),
    "beam_pipeline_args": Param(
        json.loads(os.environ.get("RETRAIN_BEAM_ARGS") or "[]"),
        type=["null", "array"],
        items={"type": "string", "pattern": "^--[A-Za-z_]+(=.*)?$"},
        description="Beam options for the data nodes (ExampleGen, StatisticsGen, Transform, "
        'Evaluator), e.g. ["--direct_running_mode=multi_processing", "--direct_num_workers=0"] '
        'or ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=DOCKER", '
        '"--sdk_container_image=retrain-pipeline:1.0"]. Default: $RETRAIN_BEAM_ARGS, else '
        "Beam's local DirectRunner.",
    ),
    "executor": Param(
        "warm",
        type="string",
        enum=["warm", "process"],
        description="warm: one TFX process per DAG run; process: a fresh process per node.",
    ),
}
# Params that become pipeline settings (pipelines/retrain.py: Settings); the rest steer the DAG.
SETTING_PARAMS = [
    "data",
    "label",
    "task",
    "rmse_threshold",
    "max_rmse_increase",
    "explain",
    "drift_threshold",
    "allowed_anomalies",
    "schema_file",
    "accuracy_threshold",
    "space",
    "strategy",
    "max_trials",
    "parallel_trials",
    "time_budget_min",
    "epochs",
    "seed",
    "search_fidelity",
    "curve_stop",
    "inherit_weights",
    "successive_halving",
    "morphism",
    "mode",
    "promote_trial",
    "baseline_module",
    "beam_pipeline_args",
]

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
                TFX_PYTHON, REPO, [*argv, "--worker", str(index)], socket=executor_socket,
                on_line=log.info,
            )  # fmt: skip
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
