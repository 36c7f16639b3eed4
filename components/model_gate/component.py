"""ModelGate component spec (the pipeline's `Evaluator` node): the examples, the candidate
model, and @champion (when there is one) in; TFMA's ModelEvaluation (with
the gate's record, core/names.py GATE_RECORD) and the gate's ModelBlessing out."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.model_gate import executor


class ModelGateSpec(ComponentSpec):
    """The gate's parameters, inputs and outputs."""

    PARAMETERS = {
        # JSON object: task, label, serving_output, metric (core/gate.py's gate_metric setting),
        # min (a fixed bar, or null) and the split to judge on (core/splits.py GATE).
        "gate": ExecutionParameter(type=str),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "model": ChannelParameter(type=standard_artifacts.Model),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class ModelGate(base_component.BaseComponent):
    """Evaluates the Trainer's model on the test split (TFMA's metrics for its task) and gates
    it (core/gate.py): blessed when clearly better than the trivial baseline and not clearly
    worse than @champion; the record says whether it is at least as good as @champion."""

    SPEC_CLASS = ModelGateSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples, model, gate: str, baseline_model=None):
        from tfx.types import Channel

        super().__init__(
            spec=ModelGateSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                gate=gate,
                evaluation=Channel(type=standard_artifacts.ModelEvaluation),
                blessing=Channel(type=standard_artifacts.ModelBlessing),
            )
        )
