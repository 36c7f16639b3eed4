"""What a pipeline run did, read from ML Metadata.

    python -m pipelines.summary --run-id RUN_ID [--settings JSON] [--json]

Prints each node's last execution state in that run, the Evaluator's gate (its metric beside the
trivial baseline's and @champion's on the test rows, the decision and why: core/gate.py), the
task's headline metric (accuracy, or RMSE for regression), and the MLflow registered model's
name, version and aliases.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from core import tasks
from pipelines.settings import Settings


def run_summary(settings: Settings, run_id: str) -> dict:
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipelines import metadata_config

    config = metadata_config.connection_config(settings, with_secret=True)
    path = metadata_config.describe(config)
    if config.WhichOneof("config") == "sqlite":
        if not os.path.exists(config.sqlite.filename_uri):
            raise FileNotFoundError(f"no ML Metadata store at {config.sqlite.filename_uri}")
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)

    run_ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run_ctx is None:
        raise KeyError(f"no pipeline run {run_id!r} in {path}")
    nodes: dict[str, dict] = {}
    executions = sorted(store.get_executions_by_context(run_ctx.id), key=lambda e: e.id)
    types = {t.id: t.name for t in store.get_execution_types()}
    node_type = store.get_context_type("node").id
    out_artifacts: dict[str, list] = {}
    for ex in executions:
        node_ctx = [c for c in store.get_contexts_by_execution(ex.id) if c.type_id == node_type]
        node = node_ctx[0].name.split(".")[-1] if node_ctx else types.get(ex.type_id, "?")
        state = metadata_store_pb2.Execution.State.Name(ex.last_known_state)
        nodes[node] = {"execution_id": ex.id, "state": state}
        events = store.get_events_by_execution_ids([ex.id])
        ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
        out_artifacts[node] = store.get_artifacts_by_id(ids) if ids else []

    summary: dict = {"run_id": run_id, "nodes": nodes}
    summary.update(dict.fromkeys(t.metric for t in tasks.TASKS.values()))
    summary.update(blessed=None, pushed_to=None, gate=None)
    for a in out_artifacts.get("Evaluator", []):
        if "blessed" in a.custom_properties:
            summary["blessed"] = bool(a.custom_properties["blessed"].int_value)
        elif a.uri and os.path.isdir(a.uri):
            summary.update(_gate_metrics(a.uri))
            summary["gate"] = _gate(a.uri)
    for a in out_artifacts.get("Pusher", []):
        if "pushed" in a.custom_properties:
            pushed = bool(a.custom_properties["pushed"].int_value)
            dest = a.custom_properties.get("pushed_destination")
            summary["pushed_to"] = dest.string_value if pushed and dest else None
    summary["registered"] = _registered(settings, summary["pushed_to"])
    return summary


def _registered(settings: Settings, destination: str | None) -> dict | None:
    """Name, version and current aliases of the version this run registered."""
    if not destination or not destination.startswith("models:/"):
        return None
    from core import tracking

    name, version = destination[len("models:/") :].rsplit("/", 1)
    uri, _ = settings.tracking()
    aliases = tracking.client(uri).get_registered_model(name).aliases
    return {
        "name": name,
        "version": int(version),
        "aliases": sorted(a for a, v in aliases.items() if str(v) == version),
        "tracking_uri": uri,
    }


def _gate_metrics(eval_uri: str) -> dict[str, float | None]:
    """Each task's gated metric of the candidate model on the overall slice, by the summary's
    name (`accuracy`, `rmse`); None where not computed (the run's task computes its own)."""
    from components.mlflow_pusher.evaluation import evaluation_metrics

    metrics = evaluation_metrics(eval_uri)
    values = {t.metric: metrics.get(t.tfma_metric) for t in tasks.TASKS.values()}
    return {k: None if v is None else round(v, 4) for k, v in values.items()}


def _gate(eval_uri: str) -> dict | None:
    """The gate's decision (core/gate.py) in an Evaluator's output, without the full table."""
    from core import records

    record = records.gate(eval_uri)
    keys = ("metric", "value", "trivial", "champion", "state", "reason", "rows", "vs_champion")
    return {k: record.get(k) for k in keys} if record else None


def shown_metric(summary: dict) -> str:
    """The metric the run computed (the first task's when none was)."""
    names = [t.metric for t in tasks.TASKS.values()]
    return next((m for m in names if summary.get(m) is not None), names[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.summary")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--settings", help="pipeline settings as a JSON object")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        s = run_summary(Settings.from_json(args.settings), args.run_id)
    except (KeyError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    print(f"pipeline run {s['run_id']}")
    for node, info in s["nodes"].items():
        print(f"  {node:<18} {info['state']:<9} (execution {info['execution_id']})")
    verdict = {True: "BLESSED", False: "NOT BLESSED", None: "not evaluated"}[s["blessed"]]
    gate = s.get("gate")
    if gate:
        champion = "" if gate["champion"] is None else f", @champion {gate['champion']:.4f}"
        print(
            f"Evaluator: {gate['metric']} {gate['value']:.4f} (trivial baseline "
            f"{gate['trivial']:.4f}{champion}) on {gate['rows']} test rows  {verdict}"
        )
        print(f"  {gate['reason']}")
    else:
        metric = shown_metric(s)
        print(f"Evaluator: {metric} {s[metric]}  {verdict}")
    reg = s["registered"]
    if reg:
        aliases = ", ".join("@" + a for a in reg["aliases"]) or "no aliases"
        where = reg["tracking_uri"]
        print(f"Registered: {reg['name']} version {reg['version']} ({aliases}) in {where}")
    else:
        print("Registered: nothing (the model was not blessed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
