"""Registry retention: which registered model versions a retention pass (pipelines/retention.py)
keeps, and the removal of the others with their MLflow run and logged model, artifacts included.

Kept, for each registered model, whatever the store:
- every version holding an alias (@champion, @challenger, or one a person set);
- the last `retention_keep_champions` champions: the versions @champion moved to, newest first
  (core/promotion.py's `champion_history`), the rollback targets;
- every version younger than `retention_keep_days`.
A pass removes only the versions of its own store: those whose ML Metadata model (the tag
`mlmd_model_uri`) lies under its pipeline root. A version without that tag (registered by hand)
is never removed. Each removed version goes first (the registry never points at deleted files),
then its logged model and its run with their artifacts, unless a kept version uses them; their
ML Metadata model files go with the pipeline run that made them (pipelines/retention.py), unless
a kept run uses them. A kept version's model artifact is kept even when its run goes: a rollback
to it still finds it, and the next run's Evaluator and warm start read it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from core import names, promotion, tracking

DAY_MS = 24 * 3600 * 1000


@dataclasses.dataclass
class Plan:
    """What a pass does to the registry: `keep` ("model/version" -> why), `remove` (the
    versions that go), `artifacts` (the ML Metadata ids of kept versions' models in this
    store) and `used` (the MLflow runs and logged models of kept versions)."""

    keep: dict[str, str] = dataclasses.field(default_factory=dict)
    remove: list = dataclasses.field(default_factory=list)
    artifacts: set[int] = dataclasses.field(default_factory=set)
    used: set[str] = dataclasses.field(default_factory=set)


def owned(version, root: str) -> bool:
    """Whether `version`'s ML Metadata model lies under the pipeline root `root`."""
    uri = version.tags.get(names.TAG_MODEL_URI) or ""
    if not uri or not root:
        return False
    if "://" in uri or "://" in root:
        return uri.startswith(root.rstrip("/") + "/")
    return Path(root).resolve() in Path(uri).resolve().parents


def why_kept(version, aliases: list[str], champions: list[str], keep_days: float, now_ms: int):
    """Why `version` stays (None: it goes). `champions`: the last K champions' versions."""
    if aliases:
        return " ".join(f"@{a}" for a in sorted(aliases))
    if str(version.version) in champions:
        return f"one of the last {len(champions)} champion(s)"
    age_days = (now_ms - int(version.creation_timestamp)) / DAY_MS
    if age_days < keep_days:
        return f"{age_days:.1f} days old, younger than {keep_days:g}"
    return None


def plan(client, root: str, keep_champions: int, keep_days: float, now_ms: int) -> Plan:
    """The registry's plan for the pass over the store whose pipeline root is `root`."""
    out = Plan()
    for model in _models(client):
        found = client.search_model_versions(f"name = {tracking.literal(model.name)}")
        if not any(owned(v, root) for v in found):
            continue
        by_version: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        history = promotion.champion_history(client, model.name)[:keep_champions]
        champions = [str(v.version) for v in history]
        for v in sorted(found, key=lambda v: int(v.version)):
            why = why_kept(v, by_version.get(str(v.version), []), champions, keep_days, now_ms)
            if why is not None:
                out.keep[f"{model.name}/{v.version}"] = why
                out.used.update(x for x in (v.run_id, logged_model(v)) if x)
                artifact = v.tags.get(names.TAG_MODEL_ARTIFACT_ID, "")
                if owned(v, root) and artifact.isdigit():
                    out.artifacts.add(int(artifact))
            elif owned(v, root):
                out.remove.append(v)
    return out


def _models(client) -> list:
    models, token = [], None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        models += list(page)
        token = page.token
        if not token:
            return models


def _local_size(uri: str) -> int:
    """The bytes stored at an artifact URI when it is a local folder (0 otherwise)."""
    from mlflow.utils.file_utils import local_file_uri_to_path
    from mlflow.utils.uri import is_local_uri

    local = local_file_uri_to_path(uri) if is_local_uri(uri) else ""
    if not local or not os.path.isdir(local):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(local) for f in fs)


def _missing(e) -> bool:
    return getattr(e, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def logged_model(version) -> str:
    """The id of the logged model behind a version (MLflow 3: its source `models:/m-...`)."""
    found = getattr(version, "model_id", None)
    source = version.source or ""
    if not found and source.startswith("models:/m-") and "/" not in source[len("models:/") :]:
        found = source[len("models:/") :]
    return found or ""


def _stored(v, used: set[str]) -> list[tuple[str, str]]:
    """[(kind, id)] of what goes with version `v`: its logged model and its run, unless a kept
    version uses them."""
    out = []
    model_id = logged_model(v)
    if model_id and model_id not in used:
        out.append(("logged_model", model_id))
    if v.run_id and v.run_id not in used:
        out.append(("run", v.run_id))
    return out


def delete(client, found: Plan) -> dict:
    """Removes `found.remove`: each version, then its logged model and its run (with their
    artifacts) unless a kept version shares them. {"versions", "runs", "logged_models",
    "bytes_freed"}. Where each thing is stored is read before anything goes, so a failure to
    read leaves the version registered."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    done = {"versions": [], "runs": 0, "logged_models": 0, "bytes_freed": 0}
    for v in found.remove:
        located = []
        for kind, ident in _stored(v, found.used):
            try:
                if kind == "run":
                    located.append((kind, ident, client.get_run(ident).info.artifact_uri))
                else:
                    located.append((kind, ident, client.get_logged_model(ident).artifact_location))
            except MlflowException as e:
                if not _missing(e):  # already gone: another pass or a person removed it
                    raise
        client.delete_model_version(v.name, str(v.version))
        done["versions"].append(f"{v.name}/{v.version}")
        for kind, ident, uri in located:
            done["bytes_freed"] += _local_size(uri)
            get_artifact_repository(uri).delete_artifacts()
            if kind == "run":
                client.delete_run(ident)
            else:
                client.delete_logged_model(ident)
            done[f"{kind}s"] += 1
    return done
