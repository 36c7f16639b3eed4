"""Retention: a weekly job's state stays bounded. Keeps what serving and the next runs need,
removes the rest.

    python -m pipelines.retention --settings JSON [--keep-runs N] [--dry-run]

Kept: the last `retention_keep_runs` pipeline runs (by creation in ML Metadata); the runs that
registered the versions holding @champion and @challenger (their whole lineage: every artifact
their executions read or wrote, cached ones included); any run with an execution still NEW or
RUNNING (a live search). Removed, for every other run:
- its artifacts under the pipeline root that no kept run uses (files deleted, the ML Metadata
  records marked DELETED, as TFX's own garbage collection does);
- its search state (`_nas_state`), rendezvous and lock folders;
- its MLflow search and trial runs and its data profile (experiments NAME-nas, NAME-data), then
  `mlflow gc` on an SQLite store (a tracking server's operator runs `mlflow gc` on its store).
Registered model versions and their runs are never removed here: the registry is the record.
Warm executor logs (core/processes.private_dir) left by crashed executors go after a day.

The last line printed is `RESULT {json}`: the runs kept and removed, artifacts and bytes freed.
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

from core import names, processes, tracking
from pipelines import metadata_config
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


def plan(store, keep_runs: int, protected: dict[str, str]) -> dict:
    """Which runs to keep (with why) and which artifacts of the others no kept run uses."""
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
    kept_ids = set().union(*(used[r] for r in keep)) if keep else set()
    removed = [c.name for c in runs if c.name not in keep]
    doomed = set().union(*(used[r] for r in removed)) - kept_ids if removed else set()
    kept_runs = set().union(*(ran[r] for r in keep)) if keep else set()
    gone = set().union(*(ran[r] for r in removed)) - kept_runs if removed else set()
    return {"keep": keep, "remove": removed, "artifacts": sorted(doomed), "executions": gone}


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
    client = tracking.client(settings.tracking()[0])
    found = plan(store, keep_runs, protected_runs(client))
    artifacts = store.get_artifacts_by_id(found["artifacts"]) if found["artifacts"] else []
    artifacts = [a for a in artifacts if a.state != pb.Artifact.DELETED]
    now = time.time()
    state = Path(settings.nas_state_root)
    folders = [
        *_run_folders(state, set(found["keep"]), now),
        *_run_folders(state / "_rendezvous", set(found["keep"]), now),
        *_run_folders(root / "_locks", set(found["keep"]), now),
        *_execution_folders(root, found["executions"]),
    ]
    mlflow_runs = _mlflow_runs(client, settings, found["remove"])
    summary = {
        "kept": found["keep"],
        "removed_runs": found["remove"],
        "artifacts": len(artifacts),
        "folders": len(folders),
        "mlflow_runs": len(mlflow_runs),
        "bytes_freed": 0,
        "dry_run": dry_run,
    }
    if dry_run:
        return summary
    freed = 0
    for a in artifacts:
        path = Path(a.uri).resolve() if a.uri else None
        if path is not None and root in path.parents:
            freed += _remove(str(path))
        a.state = pb.Artifact.DELETED
    if artifacts:
        store.put_artifacts(artifacts)
    freed += sum(_remove(str(p)) for p in folders)
    for run_id in mlflow_runs:
        client.delete_run(run_id)
    freed += _gc(settings, bool(mlflow_runs))
    freed += sum(_remove(str(p)) for p in stale_logs(now))
    summary["bytes_freed"] = freed
    return summary


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
    parser.add_argument("--dry-run", action="store_true", help="say what would go; remove none")
    args = parser.parse_args(argv)
    settings = Settings.from_json(args.settings)
    keep = settings.retention_keep_runs if args.keep_runs is None else args.keep_runs
    summary = apply(settings, max(1, keep), args.dry_run)
    for run, why in summary["kept"].items():
        print(f"RETENTION keeps run {run}: {why}")
    print(
        f"RETENTION {'would remove' if args.dry_run else 'removed'} "
        f"{len(summary['removed_runs'])} run(s): {summary['artifacts']} artifact(s), "
        f"{summary['folders']} folder(s), {summary['mlflow_runs']} MLflow run(s); "
        f"{summary['bytes_freed'] / 1e6:.1f} MB freed"
    )
    print("RESULT " + json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
