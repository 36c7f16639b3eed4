"""The MLflow pyfunc model: raw rows (pandas) in, the task's columns out (class and
probability, or the prediction: `Task.pyfunc_frame`, core/tasks.py).

It wraps the TFX serving SavedModel, whose `serving_default` signature parses tf.Examples and
applies the Transform graph, so missing values and unseen categories are handled exactly as in
training. Loaded by `mlflow.pyfunc.load_model(...)`; needs TensorFlow, not TFX. The packages
it imports travel inside the logged model (the pusher's code_paths).

A raw row has one cell per feature column, under the column's own name (spaces, slashes,
unicode and all):
- a number or a text value (a scalar column);
- a list or numpy array of numbers for a tensor column: a 1-D signal of its length; an image
  array nested to its shape ([height, width(, channels)]) or flat (height x width x channels);
- bytes for an encoded PNG/JPEG image.
A missing value is None (or NaN for a scalar, an empty list for a tensor): the feature is left
out of the tf.Example, as a missing value is in the data. A cell the model cannot take (a
signal of the wrong length, text in a number array) raises `InputError`, naming the column.
"""

from __future__ import annotations

import math

import mlflow.pyfunc


class InputError(ValueError):
    """A raw row's cell cannot be the model's feature; the message names the column (and the row,
    from `TFXServingModel.predict`) and what the model takes."""


def _token(value) -> bool:
    """A missing-value token (core/columns.py's, e.g. "n/a") where a number is expected: a
    raw row holds what the training table held, where ExampleGen read it as missing."""
    from core import columns

    return isinstance(value, str) and value.strip().lower() in columns.tokens_of(())


def _missing(value) -> bool:
    if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:
        return len(value) == 0
    import pandas as pd

    return bool(pd.isna(value))


def _shape_text(shape: list[int]) -> str:
    if len(shape) == 1:
        return f"a 1-D signal of {shape[0]} values"
    return f"an image array of shape {list(shape)} (or its {math.prod(shape)} values flat)"


def tensor_values(name: str, kind: str, value, shape: list[int]) -> list:
    """A tensor column's cell as the tf.Example's values: encoded image bytes as [bytes]; numbers
    (nested to `shape`, or flat, or the shape with its trailing 1 channel left out) flat, as
    ints for an "int" column (whole numbers only) or floats (NaN: a missing value)."""
    if kind == "bytes":
        if isinstance(value, (bytes, bytearray, memoryview)):
            return [bytes(value)]
        raise InputError(
            f"column {name!r} takes an encoded PNG/JPEG image as bytes, got {type(value).__name__}"
        )
    import numpy as np

    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"column {name!r} takes numbers ({_shape_text(shape)}), got {str(value)[:60]!r}"
        ) from None
    size = math.prod(shape)
    accepted = {(size,), tuple(shape), (*shape, 1)}
    if len(shape) > 1 and shape[-1] == 1:
        accepted.add(tuple(shape[:-1]))
    if array.shape not in accepted:
        raise InputError(
            f"column {name!r} takes {_shape_text(shape)}; got {array.size} values "
            f"of shape {list(array.shape)}"
        )
    flat = array.reshape(-1)
    if kind == "int":
        if not (np.isfinite(flat).all() and (flat == np.round(flat)).all()):
            raise InputError(f"column {name!r} takes whole numbers (an integer array)")
        return [int(v) for v in flat]
    return [float(v) for v in flat]


def example_bytes(row: dict, features: dict[str, str], shapes: dict | None = None) -> bytes:
    """One raw row as a serialized tf.Example; a missing value is an absent feature, as in the
    data. `features`: name -> "int" | "float" | "bytes"; `shapes`: the tensor columns' shapes
    (see the module's docstring)."""
    import tensorflow as tf

    shapes = shapes or {}
    feature = {}
    for name, kind in features.items():
        value = row.get(name)
        if _missing(value) or (kind != "bytes" and name not in shapes and _token(value)):
            continue
        values = tensor_values(name, kind, value, shapes[name]) if name in shapes else [value]
        try:
            if kind == "bytes":
                data = [v if isinstance(v, bytes) else str(v).encode() for v in values]
                f = tf.train.Feature(bytes_list=tf.train.BytesList(value=data))
            elif kind == "int":
                ints = [int(v) for v in values]
                f = tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
            else:
                floats = [float(v) for v in values]
                f = tf.train.Feature(float_list=tf.train.FloatList(value=floats))
        except (TypeError, ValueError) as e:
            what = {"int": "an integer", "float": "a number"}.get(kind, "text")
            got = str(value)[:60]
            raise InputError(f"column {name!r} takes {what}, got {got!r} ({e})") from None
        feature[name] = f
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def raw_value(kind: str, values: list, tensor: bool):
    """One feature of a parsed tf.Example (core/tfrecord.py: its kind and values) as a raw row's
    cell: None when absent; a tensor whole (a list of numbers, or the encoded image's bytes); a
    scalar as its first value (text decoded, numbers as floats)."""
    if not values:
        return None
    if tensor:
        return bytes(values[0]) if kind == "bytes" else list(values)
    if kind == "bytes":
        return bytes(values[0]).decode("utf-8", "replace")
    return float(values[0])


def raw_row(example: dict, features: dict[str, str], shapes: dict | None = None) -> dict:
    """A parsed tf.Example ({name: (kind, values)}, core/tfrecord.py's `parse_example`) as the
    raw row the pyfunc takes (`raw_value` of each feature)."""
    shapes = shapes or {}
    row = {}
    for name in features:
        kind, values = example.get(name, ("", []))
        row[name] = raw_value(kind, values, name in shapes)
    return row


class TFXServingModel(mlflow.pyfunc.PythonModel):
    """The serving SavedModel behind MLflow's pyfunc interface. model_config: {"features":
    {name: "int"|"float"|"bytes"}, "shapes": {name: shape} of the tensor columns, "classes":
    [...], "task": a core/tasks.py task name, "threshold": a binary model's decision threshold
    or null}; the output's columns are the task's (classification: `class`, its `probability`
    and `probability_<class>` for each class; regression: `prediction`). The classes are the
    label's own values in the head's order (ints, bools, floats or text: `Task.classes`), so
    `class` is 2 for an integer label, True for a boolean one."""

    def load_context(self, context):
        import tensorflow as tf

        from core import tasks

        self._tf = tf
        self._model = tf.saved_model.load(context.artifacts["saved_model"])
        self._serve = self._model.signatures["serving_default"]
        self._features = context.model_config["features"]
        self._shapes = context.model_config.get("shapes") or {}
        self._classes = context.model_config["classes"]
        self._task = tasks.get(context.model_config["task"])
        self._threshold = context.model_config.get("threshold")

    def predict(self, context, model_input, params=None):
        serialized = []
        for i, row in enumerate(model_input.to_dict(orient="records")):
            try:
                serialized.append(example_bytes(row, self._features, self._shapes))
            except InputError as e:
                raise InputError(f"row {i}: {e}") from None
        outputs = self._serve(examples=self._tf.constant(serialized))
        outputs = outputs[self._task.serving_output].numpy()
        return self._task.pyfunc_frame(outputs, self._classes, self._threshold)
