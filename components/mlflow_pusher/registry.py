"""Model-registry look-ups shared by the pusher's executor and the champion resolver. The
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
        raise


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
