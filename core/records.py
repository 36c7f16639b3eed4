"""The records the pipeline writes beside its artifacts, read back in one place: the Trainer's
(TRAINING_RECORD beside a model, pipelines/training.py) and the gate's (GATE_RECORD in an
Evaluator's output, core/gate.py). Standard library only."""

from __future__ import annotations

import json
import os

from core import names


def read(folder: str, name: str) -> dict:
    """The JSON object in `folder`/`name`, or {} when there is no such file."""
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def training(model_uri: str) -> dict:
    """The Trainer's record beside a model; {} for a model trained before records existed."""
    return read(model_uri, names.TRAINING_RECORD)


def gate(eval_uri: str) -> dict:
    """The gate's decision and evidence in an Evaluator's output; {} when it has none."""
    return read(eval_uri, names.GATE_RECORD)
