"""Run exactly one node of the retraining pipeline for a pipeline run id.

    python -m pipelines.run_node --run-id RUN_ID --node NODE_ID [--settings JSON] [--no-cache]
    python -m pipelines.run_node --topology [--settings JSON]

This command line is the contract between the orchestrator and the pipeline: the Airflow task,
the warm executor and a per-step container all run it. It compiles the pipeline, substitutes the
run id, picks the node and launches it with TFX's portable Launcher, as LocalDagRunner does. The
node's inputs are resolved from ML Metadata through the pipeline run context; nothing but ids
crosses from the orchestrator.

Exit status (core/failures.py): 0 when the node's execution is COMPLETE or CACHED; 2 for bad
arguments or settings; 3 when the same node of the same run is already running (a second launch
at the same time is refused; a sequential retry is fine); 4 when the node failed and running it
again cannot help (core/failures.py classifies the failure: data, schema, settings, the user
module); 1 for any other failure (transient, or unknown: worth a retry).
On success the last line printed is `RESULT {json}` with the node, execution id and state; on
failure it is `RETRAIN ERROR <permanent|transient>: <the failure in one line>`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from core import failures, names, processes, results, tracking
from pipelines import metadata_config
from pipelines.retrain import SEARCH_NODE, create_pipeline
from pipelines.settings import Settings

log = logging.getLogger("run_node")

_IR_CACHE: dict[str, bytes] = {}


def ir_key(settings: Settings) -> str:
    """What the compiled IR depends on: the settings and the user module's content."""
    module = Path(settings.path(settings.module_file))
    digest = hashlib.sha256(module.read_bytes()).hexdigest() if module.exists() else "missing"
    return settings.to_json() + digest


def compiled_ir(settings: Settings) -> bytes:
    """The compiled pipeline IR, serialized (with the run id still a runtime parameter).

    Compiling builds the user-module wheel, so the IR is cached per settings and module content:
    a warm executor compiles once per run instead of once per node (in a child of its own, which
    hands the bytes back: pipelines/warm_executor.py)."""
    from tfx.dsl.compiler import compiler

    key = ir_key(settings)
    if key not in _IR_CACHE:
        pipeline = create_pipeline(settings)
        for component in pipeline.components:
            # As LocalDagRunner.run does: packages the module file into a wheel under the root.
            if hasattr(component, "_resolve_pip_dependencies"):
                component._resolve_pip_dependencies(pipeline.pipeline_info.pipeline_root)
        _IR_CACHE[key] = compiler.Compiler().compile(pipeline).SerializeToString()
    return _IR_CACHE[key]


def remember_ir(key: str, ir: bytes) -> None:
    """Caches IR compiled elsewhere (the warm executor's compile child) under its `ir_key`."""
    _IR_CACHE[key] = ir


def compile_pipeline(settings: Settings):
    """The compiled pipeline IR (a pipeline_pb2.Pipeline), from the cache when it is there."""
    from tfx.proto.orchestration import pipeline_pb2

    ir = pipeline_pb2.Pipeline()
    ir.ParseFromString(compiled_ir(settings))
    return ir


def topology(settings: Settings) -> dict[str, list[str]]:
    """Node id -> sorted upstream node ids, as compiled."""
    ir = compile_pipeline(settings)
    return {n.pipeline_node.node_info.id: sorted(n.pipeline_node.upstream_nodes) for n in ir.nodes}


class NodeBusy(RuntimeError):
    """The same node of the same pipeline run is being launched by another process."""


class UnknownNode(KeyError):
    """The pipeline has no node of that id (a bad argument, not a failure of a node)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@contextlib.contextmanager
def node_lock(settings: Settings, run_id: str, node_id: str):
    """An exclusive lock per (pipeline run, node) under the pipeline root. The kernel drops it
    when its process dies, kill -9 included, so a retry after a crash is never refused."""
    folder = Path(settings.path(settings.pipeline_root)) / "_locks" / names.run_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    f = open(folder / f"{node_id}.lock", "a+")  # noqa: SIM115 (held for the whole launch)
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise NodeBusy(
                f"node {node_id} of pipeline run {run_id} is already running ({holder}); "
                "refusing to launch it twice at the same time"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
        )
        f.flush()
        yield
    finally:
        f.close()  # releases the lock


def run_node(settings: Settings, run_id: str, node_id: str, use_cache: bool = True) -> dict:
    """Launches one node of pipeline run `run_id`; its result (see the module's docstring)."""
    with node_lock(settings, run_id, node_id):
        try:
            return _launch(settings, run_id, node_id, use_cache)
        finally:
            if settings.parallel_trials and node_id == SEARCH_NODE:
                # Workers still waiting for a chief stop waiting: cached, done or failed.
                from components.nas_tuner import worker

                worker.release(settings.nas_state_root, run_id, node_id)


def _launch(settings: Settings, run_id: str, node_id: str, use_cache: bool) -> dict:
    from ml_metadata.proto import metadata_store_pb2
    from tfx.dsl.compiler import constants
    from tfx.orchestration import metadata
    from tfx.orchestration.local import runner_utils
    from tfx.orchestration.portable import launcher, runtime_parameter_utils

    ir = compile_pipeline(settings)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    if node_id not in nodes:
        raise UnknownNode(f"no node {node_id!r} in pipeline; nodes are {sorted(nodes)}")
    node = nodes[node_id]
    if not use_cache:
        node.execution_options.caching_options.enable_cache = False
    deployment = runner_utils.extract_local_deployment_config(ir)
    # Built here, not taken from the compiled pipeline: only this process sees the password.
    connection_config = metadata_config.connection_config(settings, with_secret=True)
    metadata_config.prepare(connection_config)
    tracking.prepare_store(*settings.tracking())

    log.info(
        "node %s: launching for pipeline run %s (ML Metadata: %s)",
        node_id,
        run_id,
        metadata_config.describe(connection_config),
    )
    info = launcher.Launcher(
        pipeline_node=node,
        mlmd_connection=metadata.Metadata(connection_config),
        pipeline_info=ir.pipeline_info,
        pipeline_runtime_spec=ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
    ).launch()

    result = {"node": node_id, "run_id": run_id, "execution_id": None, "state": "NOT_RUN"}
    pushed = None
    if info is not None and info.execution_id:
        with metadata.Metadata(connection_config) as m:
            [execution] = m.store.get_executions_by_id([info.execution_id])
            state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
            result.update(execution_id=info.execution_id, state=state)
            pushed = _pushed(m.store, info.execution_id)
        if pushed is not None:
            result["pushed"] = dict(pushed, model=settings.registered_model_name)
    return result


def _pushed(store, execution_id: int) -> dict | None:
    """What the Pusher did, from its output artifact's properties (components/mlflow_pusher):
    {"pushed": bool, "version", "destination", "reason", "promotion", "promotion_reason"};
    None for any other node."""
    from ml_metadata.proto import metadata_store_pb2

    outputs = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    events = store.get_events_by_execution_ids([execution_id])
    for artifact in store.get_artifacts_by_id([e.artifact_id for e in events if e.type in outputs]):
        props = artifact.custom_properties
        if "pushed" in props:
            text = {k: props[k].string_value for k in props if k != "pushed"}
            return {
                "pushed": bool(props["pushed"].int_value),
                "version": props["pushed_version"].int_value if "pushed_version" in props else None,
                "destination": text.get("pushed_destination", ""),
                "reason": text.get("not_blessed_reason", ""),
                "promotion": text.get("promotion", ""),  # core/promotion.py's state
                "promotion_reason": text.get("promotion_reason", ""),
            }
    return None


def report(kind: str, line: str) -> None:
    """The failure's one line, last on stderr: the orchestrator shows it as the reason."""
    sys.stdout.flush()
    print(f"{failures.MARK}{kind}: {line}", file=sys.stderr, flush=True)


def failed(e: BaseException, node: str | None) -> int:
    """A node's failure: its traceback for the log, then its one line and verdict (permanent:
    exit status 4, not retried; transient: 1, retried)."""
    traceback.print_exc()
    verdict = failures.classify(e)
    log.error("node %s failed, %s: %s", node, verdict.kind, verdict.reason)
    report(verdict.kind, verdict.line)
    return failures.EXIT_PERMANENT if verdict.permanent else failures.EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.run_node", description=__doc__)
    parser.add_argument("--run-id", help="pipeline run id (the Airflow dag run id)")
    parser.add_argument("--node", help="pipeline node id, e.g. Transform")
    parser.add_argument("--settings", help="pipeline settings as a JSON object")
    parser.add_argument("--topology", action="store_true", help="print node -> upstream as JSON")
    parser.add_argument(
        "--no-cache", action="store_true", help="run the executor even if a cached result exists"
    )
    parser.add_argument(
        "--worker",
        type=int,
        default=None,
        metavar="I",
        help="with --node Tuner: run trials as worker I of the node's parallel search",
    )
    args = parser.parse_args(argv)
    if os.getpgid(0) == os.getpid():  # a node's own group (node_client, warm executor)
        processes.end_group_on_sigterm()
    processes.hang_for_test(args.node)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    try:
        settings = Settings.from_json(args.settings)
    except (ValueError, TypeError) as e:
        report(failures.PERMANENT, f"bad settings: {e}")
        return failures.EXIT_USAGE
    if not args.topology and (not args.run_id or not args.node):
        parser.print_usage(sys.stderr)
        report(failures.PERMANENT, "--run-id and --node are required (or --topology)")
        return failures.EXIT_USAGE
    try:
        return _main(args, settings)
    except UnknownNode as e:
        report(failures.PERMANENT, str(e))
        return failures.EXIT_USAGE
    except NodeBusy as e:
        report(failures.TRANSIENT, str(e))
        return failures.EXIT_BUSY
    except Exception as e:  # noqa: BLE001 (classified, reported in one line, exit status)
        return failed(e, args.node)


def _main(args: argparse.Namespace, settings: Settings) -> int:
    if args.topology:
        print(json.dumps(topology(settings), sort_keys=True))
        return failures.EXIT_OK
    if args.worker is not None:
        from components.nas_tuner import worker

        out = worker.run(settings.nas_state_root, args.run_id, args.node, args.worker)
        result = {
            "node": args.node,
            "run_id": args.run_id,
            "worker": args.worker,
            "state": "COMPLETE",
            **out,
        }
        results.emit(result)
        return failures.EXIT_OK
    result = run_node(settings, args.run_id, args.node, use_cache=not args.no_cache)
    # The node process's peak resident memory (a warm executor's child counts the imports it
    # inherited): bench/scale reports it per node.
    result["peak_rss_mb"] = round(processes.peak_rss_mb(), 1)
    results.emit(result)
    if result["state"] in ("COMPLETE", "CACHED"):
        return failures.EXIT_OK
    report(
        failures.TRANSIENT,
        f"node {args.node} did not run (state {result['state']}): its inputs were not found in "
        f"ML Metadata for pipeline run {args.run_id}; run its upstream nodes first",
    )
    return failures.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
