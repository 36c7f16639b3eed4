"""Small MLflow registry helpers shared by the executor and the champion resolver."""

from __future__ import annotations

CHAMPION = "champion"
CHALLENGER = "challenger"
# Model-version tags this project writes; the resolver and idempotency read them back.
TAG_PIPELINE_RUN = "tfx_pipeline_run_id"
TAG_MODEL_ARTIFACT_ID = "mlmd_model_artifact_id"
TAG_MODEL_URI = "mlmd_model_uri"


def experiment_id(client, name: str, artifact_location: str = "") -> str:
    """The id of experiment `name`, created if missing; with a local store (`artifact_location`)
    its artifacts go there, not to the current directory."""
    from pathlib import Path

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    if artifact_location:
        Path(artifact_location).mkdir(parents=True, exist_ok=True)
        return client.create_experiment(name, artifact_location=Path(artifact_location).as_uri())
    return client.create_experiment(name)


def client(tracking_uri: str):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


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

    try:
        versions = c.search_model_versions(
            f"name = '{name}' and tags.{TAG_PIPELINE_RUN} = '{pipeline_run_id}'"
        )
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return min(versions, key=lambda v: int(v.version)) if versions else None
