"""MlflowPusher component spec: what goes in and out, and which executor runs it."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.mlflow_pusher import executor


class MlflowPusherSpec(ComponentSpec):
    """The MlflowPusher's parameters, inputs and output."""

    PARAMETERS = {
        "registered_model_name": ExecutionParameter(type=str),
        "tracking_uri": ExecutionParameter(type=str),
        # Where a local (SQLite) tracking store keeps artifacts; empty for a tracking server.
        "artifact_location": ExecutionParameter(type=str, optional=True),
        # JSON object of extra lineage tags (e.g. the Airflow dag_id and run_id).
        "lineage": ExecutionParameter(type=str, optional=True),
        "label": ExecutionParameter(type=str),
        # The task type (core/tasks.py): the pyfunc's output columns, explanations, edge checks.
        "task": ExecutionParameter(type=str),
        # 1: log feature importance / the Trainer's TFLite files with the version (insight.py).
        "explain": ExecutionParameter(type=int),
        "edge": ExecutionParameter(type=int),
        # JSON object: the tensor columns' shapes (the pipeline's feature_shapes, declared and
        # found); a column not in it has the shape the transform graph gives it.
        "feature_shapes": ExecutionParameter(type=str, optional=True),
        # core/promotion.py's MODES: auto moves @champion; approval leaves it to a person.
        "promotion": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "hyperparameters": ChannelParameter(type=standard_artifacts.HyperParameters, optional=True),
        "champion_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class MlflowPusher(base_component.BaseComponent):
    """Registers a blessed model version, tags its lineage, sets @challenger and moves
    @champion when the model was blessed against the current champion (with promotion
    `approval`, leaves it awaiting a person's sign-off instead). Every setting comes
    from the pipeline (pipelines/retrain.py); empty strings mean none."""

    SPEC_CLASS = MlflowPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model,
        model_blessing,
        evaluation,
        transform_graph,
        examples,
        registered_model_name: str,
        tracking_uri: str,
        label: str,
        task: str,
        explain: int,
        edge: int,
        hyperparameters=None,
        champion_model=None,
        artifact_location: str = "",
        lineage: str = "",
        feature_shapes: str = "",
        promotion: str = "auto",
    ):
        from tfx.types import Channel

        super().__init__(
            spec=MlflowPusherSpec(
                model=model,
                model_blessing=model_blessing,
                evaluation=evaluation,
                transform_graph=transform_graph,
                examples=examples,
                hyperparameters=hyperparameters,
                champion_model=champion_model,
                registered_model_name=registered_model_name,
                tracking_uri=tracking_uri,
                artifact_location=artifact_location,
                lineage=lineage,
                label=label,
                task=task,
                explain=explain,
                edge=edge,
                feature_shapes=feature_shapes,
                promotion=promotion,
                pushed_model=Channel(type=standard_artifacts.PushedModel),
            )
        )
