"""DataValidator component spec: the run's statistics and schema in, anomalies out.

Stands where TFX's ExampleValidator stands (node id ExampleValidator) and adds what a retraining
gate needs: drift against the previous span, the schema of the last accepted data as the
reference, accepted anomalies from config, and failing the node (so nothing downstream runs).
"""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.data_validator import executor


class DataValidatorSpec(ComponentSpec):
    """The DataValidator's parameters, inputs and output."""

    PARAMETERS = {
        "label": ExecutionParameter(type=str),
        # The data folder: the previous span is the last accepted data from the same folder.
        "data_source": ExecutionParameter(type=str),
        # JSON object: column (or "*") -> drift threshold against the previous span.
        "drift": ExecutionParameter(type=str, optional=True),
        # JSON list of accepted anomalies: "column", "column:KIND" or "*:KIND".
        "allow": ExecutionParameter(type=str, optional=True),
        # 1: the schema input is curated (ImportSchemaGen) and is the reference; 0: the reference
        # is the schema of the last accepted data (this run's inferred schema on a first run).
        "curated_schema": ExecutionParameter(type=int, optional=True),
        # Where the data profile (profile.py) is logged: MLflow URI, local artifact folder
        # (SQLite store) and experiment. No URI: the profile is only beside the anomalies.
        "tracking_uri": ExecutionParameter(type=str, optional=True),
        "artifact_location": ExecutionParameter(type=str, optional=True),
        "experiment": ExecutionParameter(type=str),
        # 0: no profile at all (setting data_profile).
        "profile": ExecutionParameter(type=int),
    }
    INPUTS = {
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "schema": ChannelParameter(type=standard_artifacts.Schema),
        "previous_statistics": ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
        "previous_schema": ChannelParameter(type=standard_artifacts.Schema, optional=True),
    }
    OUTPUTS = {"anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class DataValidator(base_component.BaseComponent):
    """Fails the run, naming each column and anomaly, when the data is not fit to train on.
    Every setting comes from the pipeline (pipelines/retrain.py); empty values mean none."""

    SPEC_CLASS = DataValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics,
        schema,
        label: str,
        data_source: str,
        experiment: str,
        profile: int,
        previous_statistics=None,
        previous_schema=None,
        drift: str = "",
        allow: str = "",
        curated_schema: int = 0,
        tracking_uri: str = "",
        artifact_location: str = "",
    ):
        from tfx.types import Channel

        super().__init__(
            spec=DataValidatorSpec(
                statistics=statistics,
                schema=schema,
                previous_statistics=previous_statistics,
                previous_schema=previous_schema,
                label=label,
                data_source=data_source,
                drift=drift,
                allow=allow,
                curated_schema=curated_schema,
                tracking_uri=tracking_uri,
                artifact_location=artifact_location,
                experiment=experiment,
                profile=profile,
                anomalies=Channel(type=standard_artifacts.ExampleAnomalies),
            )
        )
