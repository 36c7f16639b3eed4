"""The retraining DAG's wiring, shared by every retraining DAG: the generic Param-driven
`retrain` / `retrain_on_data` (dags/retrain.py) and each dataset's pair (dataset_dags.py).

Every TFX pipeline node is one Airflow task running
`python -m pipelines.run_node --run-id <dag run id> --node <node id> --settings <settings>` in
the TFX environment, through a warm executor (default: TFX imported once per DAG run) or in a
fresh process. Nodes find their inputs in ML Metadata, so only ids cross from Airflow. This
module creates no DAG itself (it sits in .airflowignore's retrain_support/), so importing it
from a DAG file adds no DAG to that file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, task

# The settings contract is in the repository's core/ (standard library only, as are the engine
# modules it reads: never TFX or Keras), on sys.path by retrain_support/__init__.py.
from core import datasets, envs
from core import settings as contract
from core.topology import GPU_NODES, NODES
from retrain_support import REPO, containers, csv_check, mlflow_conn, node_client, notify, trust
from retrain_support.signoff import sign_off_task

DATA_ASSET = "retrain_data"  # the generic retrain_on_data's Asset name (one name per URI)


@dataclasses.dataclass(frozen=True)
class Deployment:
    """What the deployment's environment says, read afresh whenever a DAG is built or a task
    runs (never cached at import: a process that parses the DAG files twice, with another
    environment, must see the second one)."""

    tfx_python: str  # the pipeline environment's interpreter; `make setup` makes .venv/tfx
    state_dir: Path  # ML Metadata, the pipeline root and the embedded MLflow store
    containers: containers.ContainerConfig  # per-step containers ($RETRAIN_CONTAINERS)
    data_uri: str  # the generic retrain_on_data's Asset URI ($RETRAIN_DATA_ASSET)
    gpu_pool: str
    retries: int
    retry_delay_s: int
    max_active_runs: int
    # Airflow's own execution_timeout of every task, a backstop: each node task ends its node
    # itself at the node's own limit (trust.timeout_s), which depends on the run's Params.
    task_timeout_s: int

    @classmethod
    def from_env(cls) -> Deployment:
        env = os.environ
        boxes = containers.ContainerConfig.from_env()
        state = Path(boxes.state_dir or env.get("RETRAIN_STATE_DIR", str(REPO / ".local")))
        return cls(
            tfx_python=envs.tfx_python(),
            state_dir=state,
            containers=boxes,
            # Not a bundled dataset's folder: each of those has its own Asset-triggered DAG
            # (datasets/NAME.json), and one event must not start two DAGs training one model.
            data_uri=env.get("RETRAIN_DATA_ASSET", (REPO / "data" / "incoming").as_uri()),
            gpu_pool=env.get("RETRAIN_GPU_POOL", "gpu"),
            retries=int(env.get("RETRAIN_RETRIES", "2")),
            retry_delay_s=int(env.get("RETRAIN_RETRY_DELAY_S", "30")),
            # One run at a time by default: two runs of one DAG push to the same registered
            # model. Runs on different data may overlap; ML Metadata copes.
            max_active_runs=int(env.get("RETRAIN_MAX_ACTIVE_RUNS", "1")),
            task_timeout_s=int(env.get("RETRAIN_TASK_TIMEOUT_S", str(24 * 3600))),
        )


# Read as module attributes (builder.STATE_DIR, builder.DATA_URI): the environment's value now.
_FROM_ENV = {"STATE_DIR": "state_dir", "DATA_URI": "data_uri", "TFX_PYTHON": "tfx_python"}


def __getattr__(name: str):
    if name in _FROM_ENV:
        return getattr(Deployment.from_env(), _FROM_ENV[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def params(defaults: dict | None = None) -> dict[str, Param]:
    """Every Param from the settings contract (core/settings.py: type, rules, default,
    description), with `defaults` (a dataset's) in place of the contract's."""
    out = {}
    for s in contract.params():
        kwargs = s.param()
        if defaults and s.name in defaults:
            value = defaults[s.name]
            kwargs["default"] = list(value) if isinstance(value, (list, tuple)) else value
        out[s.name] = Param(**kwargs)
    return out


PARAMS = params()
# Params that become pipeline settings (pipelines/settings.py: Settings); the rest steer the DAG.
SETTING_PARAMS = [s.name for s in contract.params() if s.scope == contract.PIPELINE]

log = logging.getLogger("retrain")


def data_asset(uri: str) -> Asset:
    """The Asset of a data URI. Airflow activates one name per URI, so the generic DAG's URI
    keeps its name `retrain_data` wherever it is used; any other Asset is named by its URI."""
    return Asset(name=DATA_ASSET if uri == Deployment.from_env().data_uri else uri, uri=uri)


def triggering_data(events, dataset: datasets.Dataset | None = None) -> str | None:
    """The data folder of the Asset whose events triggered this run (None when no Asset did,
    or the dataset reads a PostgreSQL source: that, whatever fired): the path of its file://
    URI, or ValueError naming it."""
    uris = sorted({e.asset.uri for found in (events or {}).values() for e in found})
    if not uris or (dataset is not None and dataset.source):
        return None
    if len(uris) > 1:
        raise ValueError(f"triggered by several Assets {uris}; a run trains on one data folder")
    try:
        return datasets.data_of_asset(uris[0])
    except ValueError as e:
        raise ValueError(f"the Asset that triggered this run: {e}") from None


def pipeline_settings(
    params: dict,
    dag_id: str = "",
    run_id: str = "",
    dataset: datasets.Dataset | None = None,
    data: str | None = None,
) -> dict:
    """Pipeline settings for one run: the Params, the deployment's paths, and
    RETRAIN_SETTINGS (a JSON object of further pipeline settings, set by operators, not users).
    For a dataset's DAG, its own pipeline name, state and settings (core/datasets.py). `data`:
    the folder of the Asset that triggered the run, in place of the Param."""
    # An optional Param left empty is null (the trigger form sends it so): the pipeline's default.
    settings = {k: params[k] for k in SETTING_PARAMS if params.get(k) is not None}
    state = Deployment.from_env().state_dir
    settings.update(
        pipeline_root=str(state / "pipeline_root"),
        metadata_path=str(state / "metadata.sqlite"),
        mlflow_tracking_uri=mlflow_conn.tracking_uri(),
        lineage={"airflow_dag_id": dag_id, "airflow_run_id": run_id},
    )
    settings.update(json.loads(os.environ.get("RETRAIN_SETTINGS") or "{}"))
    if dataset is not None:
        settings = dataset.pipeline_settings(settings)
    if data is not None:
        settings["data"] = data
    return settings


def _report(context, level: int, tag: str, attempt: str) -> None:
    """One readable line: `tag: node N of DAG run R <attempt>: <the error's last line>`."""
    ti = context["ti"]
    log.log(
        level,
        "%s: node %s of %s run %s %s: %s",
        tag,
        ti.task_id,
        ti.dag_id,
        ti.run_id,
        attempt.format(try_number=ti.try_number),
        notify.exception_line(context),
    )


def report_failure(context) -> None:
    """A node failed for good: no retries left, or a permanent failure (never retried)."""
    _report(context, logging.ERROR, "RETRAIN FAILED", "(try {try_number})")


def report_retry(context) -> None:
    """A try failed and Airflow will retry the node."""
    _report(
        context,
        logging.WARNING,
        "RETRAIN RETRY",
        "failed on try {try_number} and will be retried",
    )


# Retries are for transient failures only (a lost connection, a killed process, out of memory):
# a node that fails for good (bad data, schema, settings, user module; core/failures.py decides)
# raises node_client.NodeFailedPermanently, an AirflowFailException, and fails at once.
def default_args(env: Deployment) -> dict:
    """Every node task's retries and callbacks."""
    return {
        "retries": env.retries,
        "retry_delay": timedelta(seconds=env.retry_delay_s),
        # Airflow 3.3: a float multiplier (True would mean 1.0, a constant delay).
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(seconds=env.task_timeout_s),
        "on_failure_callback": [report_failure, notify.RunNotifier()],
        "on_retry_callback": report_retry,
    }


def check_data(settings: dict) -> dict:
    """Fails the run before any node starts if the data cannot be used; the run's settings
    (for a postgresql:// source, with the folder its snapshot was read into: pg_check.py)."""
    from core import pg_source
    from retrain_support import pg_check

    if pg_source.is_source(settings["data"]):
        check_deployment(settings)
        return pg_check.check_source(settings, Deployment.from_env())
    data = Path(settings["data"])
    data = data if data.is_absolute() else REPO / data
    if not data.is_dir():
        raise ValueError(f"param data: {data} is not a folder")
    if not any(p.is_file() for p in data.iterdir()):
        raise ValueError(f"param data: folder {data} holds no files")
    problems = csv_check.check_folder(data)
    if not problems:
        label = settings.get("label") or datasets.manifest_label(data) or contract.DEFAULT_LABEL
        problems = [p for p in [csv_check.check_label(data, label)] if p]
    for problem in problems:
        log.error("DATA ANOMALY: %s", problem)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(f"data {data} cannot be ingested: " + "; ".join(problems[:3]) + more)
    check_deployment(settings)
    return settings


def check_deployment(settings: dict) -> None:
    env = Deployment.from_env()  # it cannot run the settings: containers, the TFX environment
    if env.containers.enabled and settings.get("parallel_trials"):
        raise ValueError(
            "param parallel_trials: parallel trials run on the scheduler's hosts; "
            f"they are not available with ${containers.ENV} yet"
        )
    if not env.containers.enabled and not Path(env.tfx_python).exists():
        raise FileNotFoundError(
            f"TFX environment not found at {env.tfx_python}; run `make setup` or set "
            "RETRAIN_TFX_PYTHON"
        )


def build_retrain_dag(
    dag_id: str,
    schedule,
    description: str,
    *,
    doc: str = "",
    dag_params: dict[str, Param] | None = None,
    dataset: datasets.Dataset | None = None,
):
    """One retraining DAG: check_params -> start_executor (setup) -> one task per TFX node ->
    stop_executor (teardown), announce, sign_off. `dataset`: a dataset's DAG (its Params in
    `dag_params`)."""
    env = Deployment.from_env()
    boxes, tfx_python, gpu_pool = env.containers, env.tfx_python, env.gpu_pool
    the_params = PARAMS if dag_params is None else dag_params
    defaults = {name: p.value for name, p in the_params.items()}

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=env.max_active_runs,
        params=the_params,
        default_args=default_args(env),
        tags=["tfx", "nas", "retraining", *([f"dataset:{dataset.name}"] if dataset else [])],
        description=description,
        doc_md=doc,
    )
    def retrain():
        @task(retries=0)
        def check_params(params=None, dag_run=None, triggering_asset_events=None) -> dict:
            """Fails the run before any node starts if the settings or the data cannot be
            used. An Asset-triggered run trains on the data of the Asset that fired."""
            data = triggering_data(triggering_asset_events, dataset)
            settings = pipeline_settings(params, dag_run.dag_id, dag_run.run_id, dataset, data)
            if data is not None:
                log.info("triggered by Asset events: data %s", data)
            crossing = trust.problems(dict(params), defaults, settings, contract, REPO)
            if crossing:
                raise ValueError("; ".join(crossing))
            return check_data(settings)

        @task
        def start_executor(params=None, dag_run=None) -> str | None:
            if params["executor"] != "warm" or boxes.enabled:
                return None
            path = node_client.socket_path(dag_run.dag_id, dag_run.run_id)
            node_client.start_executor(tfx_python, REPO, path)
            return path

        def warm_socket(executor_socket: str | None, dag_run) -> str | None:
            """The warm executor of the host this task runs on (None: fresh processes). With
            Celery, each worker starts its own on its first node of the run."""
            if not executor_socket:
                return None
            return node_client.local_executor(tfx_python, REPO, dag_run.dag_id, dag_run.run_id)

        @task
        def stop_executor(executor_socket: str | None) -> None:
            if executor_socket:
                node_client.stop_executor(executor_socket)

        def node_task(node: str):
            pool = gpu_pool if node in GPU_NODES else "default_pool"
            if boxes.enabled:
                # The node in the pipeline image; it reads the settings from check_params's XCom.
                def in_container(settings, _executor):
                    op = containers.node_operator(
                        boxes, node, node in GPU_NODES, task_id=node, pool=pool
                    )
                    settings >> op
                    return op

                return in_container

            @task(task_id=node, pool=pool)
            def run(settings: dict, executor_socket: str | None, dag_run=None) -> dict:
                argv = node_client.node_argv(dag_run.run_id, node, settings)
                limit = trust.timeout_s(node, settings, contract, REPO)
                log.info("node %s: time limit %.0f s", node, limit)
                socket = warm_socket(executor_socket, dag_run)
                result = node_client.run_node(
                    tfx_python, REPO, argv, socket, log.info, timeout_s=limit
                )
                log.info("node %s: %s", node, result.get("state"))
                return result

            return run

        model = Asset(name=f"{dag_id}_model", uri=notify.model_asset_uri(dag_id))

        @task(task_id="announce", outlets=[model], retries=0)
        def announce_push(result: dict | None, outlet_events=None, dag_run=None, **context):
            """The model Asset's event when a version was registered; NOT BLESSED notified."""
            return notify.announce(result, model, outlet_events, dag_run, context)

        @task
        def tuner_workers(settings: dict) -> list[int]:
            """One index per parallel-trials worker (none: the mapped task is skipped)."""
            return list(range(int(settings.get("parallel_trials") or 0)))

        @task(task_id="TunerWorker", pool=gpu_pool)
        def tuner_worker(index: int, settings: dict, executor_socket: str | None, dag_run=None):
            """Runs trials for the Tuner's search (components/nas_tuner/worker.py)."""
            argv = node_client.node_argv(dag_run.run_id, "Tuner", settings)
            result = node_client.run_node(
                tfx_python,
                REPO,
                [*argv, "--worker", str(index)],
                socket=warm_socket(executor_socket, dag_run),
                on_line=log.info,
                timeout_s=trust.timeout_s("TunerWorker", settings, contract, REPO),
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
        pushed = getattr(tasks["Pusher"], "output", tasks["Pusher"])
        announced = announce_push(pushed)
        # promotion approval: a person signs off (skipped otherwise); no executor needed.
        announced >> [stop, sign_off_task(pushed, settings, tfx_python, [model])]
        if not boxes.enabled:
            workers = tuner_worker.partial(settings=settings, executor_socket=executor).expand(
                index=tuner_workers(settings)
            )
            tasks["Transform"] >> workers
            workers >> stop

    return retrain()
