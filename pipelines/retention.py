"""Retention: a weekly job's state stays bounded. Keeps what serving, rollback and the next runs
need, removes the rest.

    python -m pipelines.retention --settings JSON [--keep-runs N] [--keep-champions K]
                                  [--keep-days D] [--dry-run]

Registered versions first (pipelines/registry_retention.py): of each registered model, it keeps
every version holding an alias (@champion, @challenger), the last `retention_keep_champions`
champions (the rollback targets) and every version younger than `retention_keep_days`; the other
versions of this store go, with their MLflow run and logged model (artifacts included).

Then pipeline runs. Kept: the last `retention_keep_runs` pipeline runs (by creation in ML
Metadata); the runs that registered the versions holding @champion and @challenger (their whole
lineage: every artifact their executions read or wrote, cached ones included); any run with an
execution still NEW or RUNNING (a live search); and the model artifact of every kept version.
Removed, for every other run:
- its artifacts under the pipeline root that nothing kept uses (files deleted, the ML Metadata
  records marked DELETED, as TFX's own garbage collection does);
- its ML Metadata records: its run context, executions and artifacts (pipelines/mlmd_prune.py;
  an execution that produced a kept artifact stays), so the store stops growing with runs;
- its search state (`_nas_state`), rendezvous and lock folders;
- the snapshots of a PostgreSQL source (`_snapshots`) no kept run's ExampleGen read;
- its MLflow search and trial runs and its data profile (experiments NAME-nas, NAME-data), then
  `mlflow gc` on an SQLite store (a tracking server's operator runs `mlflow gc` on its store to
  drop the deleted runs' records; their artifacts are already gone).
Warm executor logs (core/processes.private_dir) left by crashed executors go after a day.

The last line printed is `RESULT {json}`: the versions and runs kept and removed, artifacts and
bytes freed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from core import names, processes, results, tracking
from pipelines import metadata_config, mlmd_prune, registry_retention
from pipelines.settings import Settings

LIVE = ("NEW", "RUNNING")
STALE_LOG_S = 24 * 3600


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _remove(path: str) -> int:
    """Deletes a file or folder; the bytes freed."""
    if not os.path.lexists(path):
        return 0
    freed = _size(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.remove(path)
    return freed


def protected_runs(client) -> dict[str, str]:
    """Pipeline run id -> the alias whose version it registered (NAME@champion,
    NAME@challenger), over every registered model in the store: one pipeline's runs may have
    trained several (the generic DAG on several data folders)."""
    out = {}
    for found in client.search_registered_models():
        model = client.get_registered_model(found.name)
        for alias, version in sorted(model.aliases.items()):
            if alias not in (names.CHAMPION, names.CHALLENGER):
                continue
            tags = client.get_model_version(model.name, str(version)).tags
            if tags.get(names.TAG_PIPELINE_RUN):
                out.setdefault(tags[names.TAG_PIPELINE_RUN], f"{model.name}@{alias}")
    return out


def plan(store, keep_runs: int, protected: dict[str, str], keep_artifacts=frozenset()) -> dict:
    """Which runs to keep (with why) and which artifacts of the others nothing kept uses (no
    kept run, and not `keep_artifacts`: the models of kept registered versions)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    runs = sorted(
        store.get_contexts_by_type("pipeline_run"),
        key=lambda c: (c.create_time_since_epoch, c.id),
        reverse=True,
    )
    keep: dict[str, str] = {}
    used: dict[str, set[int]] = {}
    ran: dict[str, set[int]] = {}
    for i, ctx in enumerate(runs):
        executions = store.get_executions_by_context(ctx.id)
        ran[ctx.name] = {e.id for e in executions}
        events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
        used[ctx.name] = {e.artifact_id for e in events}
        if i < keep_runs:
            keep[ctx.name] = f"one of the last {keep_runs}"
        elif ctx.name in protected:
            keep[ctx.name] = f"registered {protected[ctx.name]}"
        elif any(pb.Execution.State.Name(e.last_known_state) in LIVE for e in executions):
            keep[ctx.name] = "running"
    kept_runs = set().union(*(ran[r] for r in keep)) if keep else set()
    inputs = {
        (e.custom_properties.get("input_base") or e.properties.get("input_base")).string_value
        for e in store.get_executions_by_id(sorted(kept_runs))
        if "input_base" in e.custom_properties or "input_base" in e.properties
    }
    kept_ids = set().union(*(used[r] for r in keep)) if keep else set()
    removed = [c.name for c in runs if c.name not in keep]
    doomed = set().union(*(used[r] for r in removed)) - kept_ids if removed else set()
    doomed -= set(keep_artifacts)
    gone = set().union(*(ran[r] for r in removed)) - kept_runs if removed else set()
    return {
        "keep": keep,
        "remove": removed,
        "artifacts": sorted(doomed),
        "executions": gone,
        "contexts": {c.id: ran[c.name] for c in runs if c.name not in keep},
        "inputs": inputs,
    }


def _execution_folders(root: Path, executions: set[int]) -> list[Path]:
    """TFX's per-execution working folders (<node>/.system/{executor,driver}_execution/<id>)
    of the removed runs' executions."""
    wanted = {str(i) for i in executions}
    return [
        p
        for kind in ("executor_execution", "driver_execution")
        for p in root.glob(f"*/.system/{kind}/*")
        if p.name in wanted
    ]


def _run_folders(root: Path, kept: set[str], now: float) -> list[Path]:
    """Per-run folders under `root` of no kept run, untouched for an hour (a run that has not
    reached ML Metadata yet may be writing one)."""
    if not root.is_dir():
        return []
    folders = {names.run_folder(r) for r in kept}
    return [
        p
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith("_")
        and p.name not in folders
        and now - p.stat().st_mtime > 3600
    ]


def snapshot_folders(root: Path, inputs: set[str], now: float) -> list[Path]:
    """The PostgreSQL snapshots (core/pg_snapshot.py, under `root`) that no kept run's
    ExampleGen read (`inputs`: their input_base), untouched for a day (a run's check_params
    may have read one that its ExampleGen has not reached yet)."""
    if not root.is_dir():
        return []
    kept = {os.path.realpath(i) for i in inputs}
    return [
        p
        for p in root.iterdir()
        if p.is_dir() and os.path.realpath(p) not in kept and now - p.stat().st_mtime > STALE_LOG_S
    ]


def _mlflow_runs(client, settings: Settings, removed: list[str]) -> list[str]:
    """The MLflow runs (searches, their trials, data profiles) of the removed pipeline runs."""
    ids = []
    for name in (settings.nas_experiment, settings.data_experiment):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            continue
        for run_id in removed:
            for run in client.search_runs(
                [experiment.experiment_id], tracking.tag_equals(names.TAG_PIPELINE_RUN, run_id)
            ):
                ids.append(run.info.run_id)
                ids += [
                    t.info.run_id
                    for t in client.search_runs(
                        [experiment.experiment_id],
                        tracking.tag_equals(names.TAG_PARENT_RUN, run.info.run_id),
                    )
                ]
    return ids


def apply(settings: Settings, keep_runs: int, dry_run: bool = False) -> dict:
    """Plans and (unless `dry_run`) removes; the summary."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = metadata_config.connection_config(settings, with_secret=True)
    store = metadata_store.MetadataStore(config)
    root = Path(settings.path(settings.pipeline_root)).resolve()
    client = tracking.use(settings.tracking()[0])
    now = time.time()
    versions = registry_retention.plan(
        client,
        str(root),
        settings.retention_keep_champions,
        settings.retention_keep_days,
        int(now * 1000),
    )
    found = plan(store, keep_runs, protected_runs(client), versions.artifacts)
    artifacts = store.get_artifacts_by_id(found["artifacts"]) if found["artifacts"] else []
    artifacts = [a for a in artifacts if a.state != pb.Artifact.DELETED]
    state = Path(settings.nas_state_root)
    folders = [
        *_run_folders(state, set(found["keep"]), now),
        *_run_folders(state / "_rendezvous", set(found["keep"]), now),
        *_run_folders(root / "_locks", set(found["keep"]), now),
        *_execution_folders(root, found["executions"]),
        *snapshot_folders(root / "_snapshots", found["inputs"], now),
    ]
    mlflow_runs = _mlflow_runs(client, settings, found["remove"])
    records = mlmd_prune.select(
        store, found["contexts"], found["executions"], set(found["artifacts"])
    )
    summary = {
        "kept": found["keep"],
        "removed_runs": found["remove"],
        "versions_kept": versions.keep,
        "versions_removed": [f"{v.name}/{v.version}" for v in versions.remove],
        "artifacts": len(artifacts),
        "folders": len(folders),
        "mlflow_runs": len(mlflow_runs),
        "metadata_records": {k: len(v) for k, v in records.items()},
        "bytes_freed": 0,
        "dry_run": dry_run,
    }
    if dry_run:
        return summary
    # The versions first: the registry never points at files already deleted.
    gone = registry_retention.delete(client, versions)
    summary["mlflow_runs"] += gone["runs"]
    freed = gone["bytes_freed"]
    for a in artifacts:
        path = Path(a.uri).resolve() if a.uri else None
        if path is not None and root in path.parents:
            freed += _remove(str(path))
        a.state = pb.Artifact.DELETED
    if artifacts:
        store.put_artifacts(artifacts)
    del store  # its connection: the records go by SQL, then the SQLite file is vacuumed
    before = _metadata_size(config)
    summary["metadata_records"] = mlmd_prune.prune(config, records)
    freed += max(0, before - _metadata_size(config))
    freed += sum(_remove(str(p)) for p in folders)
    for run_id in mlflow_runs:
        client.delete_run(run_id)
    freed += _gc(settings, bool(mlflow_runs) or bool(gone["versions"]))
    freed += sum(_remove(str(p)) for p in stale_logs(now))
    summary["bytes_freed"] = freed
    return summary


def _metadata_size(config) -> int:
    """Bytes of ML Metadata's SQLite file and its journal (0 on a server)."""
    if config.WhichOneof("config") != "sqlite":
        return 0
    path = config.sqlite.filename_uri
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def _gc(settings: Settings, deleted: bool) -> int:
    """`mlflow gc` on an SQLite store after runs were deleted; the bytes its artifacts held."""
    uri, artifacts = settings.tracking()
    if not deleted or not uri.startswith("sqlite:///"):
        return 0
    before = _size(artifacts) if artifacts and os.path.isdir(artifacts) else 0
    subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return max(0, before - (_size(artifacts) if artifacts and os.path.isdir(artifacts) else 0))


def stale_logs(now: float) -> list[Path]:
    """Warm executor logs with no socket beside them, a day old: their executors crashed."""
    folder = processes.private_dir()
    return [
        p
        for p in folder.glob("*.log")
        if not p.with_suffix(".sock").exists() and now - p.stat().st_mtime > STALE_LOG_S
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.retention", description=__doc__)
    parser.add_argument("--settings", default="{}", help="pipeline settings (JSON)")
    parser.add_argument("--keep-runs", type=int, default=None, help="default: the setting's")
    parser.add_argument("--keep-champions", type=int, default=None, help="default: the setting's")
    parser.add_argument("--keep-days", type=float, default=None, help="default: the setting's")
    parser.add_argument("--dry-run", action="store_true", help="say what would go; remove none")
    args = parser.parse_args(argv)
    raw = json.loads(args.settings)
    for key, value in (
        ("retention_keep_champions", args.keep_champions),
        ("retention_keep_days", args.keep_days),
    ):
        if value is not None:
            raw[key] = value
    settings = Settings.from_json(json.dumps(raw))
    keep = settings.retention_keep_runs if args.keep_runs is None else args.keep_runs
    summary = apply(settings, max(1, keep), args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    records = ", ".join(f"{n} {k}" for k, n in summary["metadata_records"].items())
    lines = [f"RETENTION keeps version {v}: {why}" for v, why in summary["versions_kept"].items()]
    lines += [f"RETENTION keeps run {run}: {why}" for run, why in summary["kept"].items()]
    lines.append(
        f"RETENTION {verb} {len(summary['versions_removed'])} registered version(s) "
        f"{summary['versions_removed']} and {len(summary['removed_runs'])} run(s): "
        f"{summary['artifacts']} artifact(s), {summary['folders']} folder(s), "
        f"{summary['mlflow_runs']} MLflow run(s), ML Metadata records {records}; "
        f"{summary['bytes_freed'] / 1e6:.1f} MB freed"
    )
    return results.finish("\n".join(lines), summary)


if __name__ == "__main__":
    sys.exit(main())
