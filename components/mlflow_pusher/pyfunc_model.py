"""The MLflow pyfunc model: raw rows (pandas) in, the task's columns out (class and
probability, or the prediction: `Task.pyfunc_frame`, core/tasks.py).

It wraps the TFX serving SavedModel, whose `serving_default` signature parses tf.Examples and
applies the Transform graph, so missing values and unseen categories are handled exactly as in
training. Loaded by `mlflow.pyfunc.load_model(...)`; needs TensorFlow, not TFX. The packages
it imports travel inside the logged model (the pusher's code_paths).
"""

from __future__ import annotations

import math

import mlflow.pyfunc


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def example_bytes(row: dict, features: dict[str, str]) -> bytes:
    """One raw row as a serialized tf.Example; a missing value is an absent feature, as in the
    CSV data. `features`: name -> "int" | "float" | "bytes"."""
    import tensorflow as tf

    feature = {}
    for name, kind in features.items():
        value = row.get(name)
        if _missing(value):
            continue
        if kind == "bytes":
            f = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
        elif kind == "int":
            f = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            f = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        feature[name] = f
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class TFXServingModel(mlflow.pyfunc.PythonModel):
    """The serving SavedModel behind MLflow's pyfunc interface. model_config: {"features":
    {name: "int"|"float"|"bytes"}, "classes": [...], "task": a core/tasks.py task name}; the
    output's columns are the task's (classification: `class` and `probability`; regression:
    `prediction`). The classes are the label's own values in the head's order (ints, bools,
    floats or text: `Task.classes`), so `class` is 2 for an integer label, True for a boolean
    one."""

    def load_context(self, context):
        import tensorflow as tf

        from core import tasks

        self._tf = tf
        self._model = tf.saved_model.load(context.artifacts["saved_model"])
        self._serve = self._model.signatures["serving_default"]
        self._features = context.model_config["features"]
        self._classes = context.model_config["classes"]
        self._task = tasks.get(context.model_config["task"])

    def predict(self, context, model_input, params=None):
        rows = model_input.to_dict(orient="records")
        serialized = self._tf.constant([example_bytes(r, self._features) for r in rows])
        outputs = self._serve(examples=serialized)[self._task.serving_output].numpy()
        return self._task.pyfunc_frame(outputs, self._classes)
