"""Model-registry look-ups shared by the pusher, the champion resolver, promotion and rollback. The
client, experiments and filter quoting are core/tracking.py's; tag and alias names
core/names.py's."""

from __future__ import annotations

from core import names, tracking


def version_by_alias(c, name: str, alias: str):
    """The model version holding `alias`, or None if the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        # MLflow's basic-auth app answers 403, not 404, for an alias of a model that does not
        # exist (it cannot find the model's permissions); the model itself then says 404.
        if e.error_code == "PERMISSION_DENIED" and not _exists(c, name):
            return None
        raise


def _exists(c, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def version_for_run(c, name: str, pipeline_run_id: str):
    """The version already registered by this pipeline run (a retried push), or None."""
    from mlflow.exceptions import MlflowException

    query = f"name = {tracking.literal(name)} and "
    query += tracking.tag_equals(names.TAG_PIPELINE_RUN, pipeline_run_id)
    try:
        versions = c.search_model_versions(query)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return min(versions, key=lambda v: int(v.version)) if versions else None


def schema_check(tags: dict, label: str | None, schema: str | None) -> tuple[bool, str]:
    """(usable, why): whether a version whose tags are `tags` was trained on `label` and the
    input schema whose fingerprint is `schema` (core/names.py), so that it may be the baseline
    of a model trained on them. A version without the tags (registered before them) is taken
    as usable, and `why` says so; so is every version when the run's label is not known."""
    theirs = (tags.get(names.TAG_LABEL), tags.get(names.TAG_SCHEMA))
    if not label:
        return True, "the run's label and schema are not known: not checked"
    if theirs == (None, None):
        return True, "it has no label and schema tags (registered before them): taken as matching"
    mine = (label, schema or theirs[1])
    if theirs == mine:
        return True, f"the same label {label!r} and schema {mine[1]}"
    return False, (
        f"it was trained on label {theirs[0]!r}, schema {theirs[1]}; this run has label "
        f"{mine[0]!r}, schema {mine[1]}"
    )


def recorded_gate(c, name: str, artifact_id, metric: str) -> dict | None:
    """@champion's own gate record, from its version's tags (core/names.py's TAG_GATE_*): its
    value and the trivial baseline's on the test rows it was judged on, when @champion is the
    ML Metadata model artifact `artifact_id` and was gated on `metric`; else None (no champion,
    another artifact, another metric, or a version registered before the record)."""
    version = version_by_alias(c, name, names.CHAMPION)
    if version is None or version.tags.get(names.TAG_MODEL_ARTIFACT_ID) != str(artifact_id):
        return None
    tags = version.tags
    if tags.get(names.TAG_GATE_METRIC) != metric:
        return None
    try:
        value, trivial = float(tags[names.TAG_GATE_VALUE]), float(tags[names.TAG_GATE_TRIVIAL])
    except (KeyError, ValueError):
        return None
    return {"version": str(version.version), "value": value, "trivial": trivial}
