"""NasTuner component spec: transformed examples and the statistics (row counts) in; the best
hyperparameters (TFX Tuner's format, for the stock Trainer), the best weights (a Model, the
Trainer's base_model) and the search results (architecture JSON, leaderboard, HTML report)
out."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import artifact, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.nas_tuner import executor


class NasSearchResults(artifact.Artifact):
    """best_architecture.json, leaderboard.json/.csv, report.html, search_config.json."""

    TYPE_NAME = "NasSearchResults"


class NasTunerSpec(ComponentSpec):
    """The NasTuner's parameters, inputs and outputs."""

    PARAMETERS = {
        "search_config": ExecutionParameter(type=str),  # SearchConfig JSON
        "label": ExecutionParameter(type=str),
        # The operator's optional cap on steps per epoch (0: an epoch is a pass over `train`).
        "steps_cap": ExecutionParameter(type=int),
        # Search state lives here, keyed by pipeline run id and node id: TFX deletes a failed
        # executor's output directories, and the stateful working dir changes on each launch.
        "state_root": ExecutionParameter(type=str),
        # MLflow: empty URI for no tracking; empty location for a tracking server's.
        "tracking_uri": ExecutionParameter(type=str, optional=True),
        "artifact_location": ExecutionParameter(type=str, optional=True),
        "experiment": ExecutionParameter(type=str),
        # Retraining mode (modes.py): "full", "warm" or "retrain"; and a candidate of an
        # earlier search to train instead of searching ("TRIAL" or "RUN_ID:TRIAL", empty: none).
        "mode": ExecutionParameter(type=str),
        "promote": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        # StatisticsGen's: the splits' row counts (an epoch is one pass over the training rows).
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        # The registry's @champion (warm and retrain modes start from it); empty before one.
        "champion_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        "best_hyperparameters": ChannelParameter(type=standard_artifacts.HyperParameters),
        "best_model": ChannelParameter(type=standard_artifacts.Model),
        "search_results": ChannelParameter(type=NasSearchResults),
    }


class NasTuner(base_component.BaseComponent):
    """Neural architecture search over a space with a strategy and performance estimators.
    Every setting comes from the pipeline (pipelines/retrain.py); empty strings mean none."""

    SPEC_CLASS = NasTunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples,
        transform_graph,
        search_config: str,
        label: str,
        statistics,
        steps_cap: int,
        state_root: str,
        experiment: str,
        mode: str,
        tracking_uri: str = "",
        artifact_location: str = "",
        champion_model=None,
        promote: str = "",
    ):
        from tfx.types import Channel

        super().__init__(
            spec=NasTunerSpec(
                examples=examples,
                transform_graph=transform_graph,
                search_config=search_config,
                label=label,
                statistics=statistics,
                steps_cap=steps_cap,
                state_root=state_root,
                tracking_uri=tracking_uri,
                artifact_location=artifact_location,
                experiment=experiment,
                champion_model=champion_model,
                mode=mode,
                promote=promote,
                best_hyperparameters=Channel(type=standard_artifacts.HyperParameters),
                best_model=Channel(type=standard_artifacts.Model),
                search_results=Channel(type=NasSearchResults),
            )
        )
