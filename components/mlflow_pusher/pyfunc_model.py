"""The MLflow pyfunc model: raw rows (pandas) in, class and probability out.

It wraps the TFX serving SavedModel, whose `serving_default` signature parses tf.Examples and
applies the Transform graph, so missing values and unseen categories are handled exactly as in
training. Loaded by `mlflow.pyfunc.load_model(...)`; needs TensorFlow, not TFX.
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
    """model_config: {"features": {name: "int"|"float"|"bytes"}, "classes": [...],
    "task": "classification" | "regression"}. Classification returns `class` and `probability`;
    regression returns `prediction`."""

    def load_context(self, context):
        import tensorflow as tf

        self._tf = tf
        self._model = tf.saved_model.load(context.artifacts["saved_model"])
        self._serve = self._model.signatures["serving_default"]
        self._features = context.model_config["features"]
        self._classes = context.model_config["classes"]
        self._task = context.model_config.get("task", "classification")

    def predict(self, context, model_input, params=None):
        import pandas as pd

        rows = model_input.to_dict(orient="records")
        serialized = self._tf.constant([example_bytes(r, self._features) for r in rows])
        if self._task == "regression":
            values = self._serve(examples=serialized)["predictions"].numpy().reshape(-1)
            return pd.DataFrame({"prediction": values.astype(float)})
        probs = self._serve(examples=serialized)["probabilities"].numpy()
        best = probs.argmax(axis=1)
        return pd.DataFrame(
            {
                "class": [self._classes[i] for i in best],
                "probability": probs.max(axis=1).astype(float),
            }
        )
