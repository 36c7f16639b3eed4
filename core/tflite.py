"""TensorFlow Lite export of a trained Keras 3 network: float and dynamic-range quantised.

The Trainer converts its live Keras model (`export`) into `<model uri>/Format-TFLite/`:
`float.tflite`, `dynamic_range.tflite` and `inputs.json`. The edge model takes the
*transformed* features (the `*_xf` tensors that the serving SavedModel's `transform_features`
signature returns); the Transform graph (vocabulary lookups on sparse raw columns) stays on the
server or in the pipeline. Converting the whole serving signature aborts TF 2.16's converter
(`missing attribute 'value'` on Keras 3 variables), and so does converting the Keras model
directly; freezing the variables into constants first works, so `export` does that.

The pusher measures each file: size, median single-row latency, and agreement with the
SavedModel on eval rows (by the task's rule, core/tasks.py). The NAS engine can use
`model_latency_ms` as its latency objective (components/nas_tuner/tf_engine.py registers it).
TensorFlow only (the TFX-facing layer); imported lazily.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from core import tasks

FOLDER = "Format-TFLite"
VARIANTS = ("float", "dynamic_range")
# TFLite's dynamic-range quantisation leaves weight tensors smaller than this in float (a small
# model's dynamic_range file is its float file); tests/pipeline/test_edge.py checks both sides.
MIN_QUANTISED_VALUES = 1024
INPUTS = "inputs.json"


class EdgeExportError(RuntimeError):
    """The model could not be converted to TensorFlow Lite."""


def _convert(model, variants=VARIANTS) -> dict[str, bytes]:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    inputs = model.input
    if isinstance(inputs, dict):
        specs = {k: tf.TensorSpec([None, *v.shape[1:]], v.dtype, name=k) for k, v in inputs.items()}
    else:
        specs = tf.TensorSpec([None, *inputs.shape[1:]], inputs.dtype, name="inputs")
    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(specs))
    out = {}
    for variant in variants:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        if variant == "dynamic_range":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            out[variant] = converter.convert()
        except Exception as e:  # the converter raises several types; name the variant
            raise EdgeExportError(f"TFLite {variant} conversion failed: {e}") from e
    return out


def export(model, model_dir: str) -> str:
    """Writes FOLDER under `model_dir` (a Model artifact's uri); returns the folder."""
    folder = os.path.join(model_dir, FOLDER)
    os.makedirs(folder, exist_ok=True)
    for variant, content in _convert(model).items():
        with open(os.path.join(folder, f"{variant}.tflite"), "wb") as f:
            f.write(content)
    inputs = model.input if isinstance(model.input, dict) else {"inputs": model.input}
    with open(os.path.join(folder, INPUTS), "w") as f:
        json.dump({k: str(v.dtype) for k, v in sorted(inputs.items())}, f, indent=1)
    return folder


def _loaded(content: bytes, features: dict[str, np.ndarray]):
    """An interpreter sized for the batch `features`, with its inputs set."""
    import tensorflow as tf

    it = tf.lite.Interpreter(model_content=content)
    details = it.get_input_details()
    n = len(next(iter(features.values())))
    for d in details:
        it.resize_tensor_input(d["index"], [n, *d["shape_signature"][1:]])
    it.allocate_tensors()
    for d in details:
        if d["name"] not in features:
            raise EdgeExportError(
                f"the TFLite model wants input {d['name']!r}; got {sorted(features)}"
            )
        it.set_tensor(d["index"], np.asarray(features[d["name"]]).astype(d["dtype"]))
    return it


def run(content: bytes, features: dict[str, np.ndarray]) -> np.ndarray:
    """The model's output for a batch of inputs keyed by name (e.g. `body_mass_g_xf`)."""
    it = _loaded(content, features)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def latency_ms(content: bytes, features: dict[str, np.ndarray], repeats: int = 50) -> float:
    """Median time of one `invoke` on the batch `features` (after one warm-up)."""
    it = _loaded(content, features)
    it.invoke()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def agreement(reference: np.ndarray, edge: np.ndarray, task=tasks.CLASSIFICATION) -> float:
    """The share of rows where the edge model agrees with the reference, by the rule of `task`
    (a name or a core.tasks Task): classification, the same class; regression, within 5% of
    the spread of the reference's predictions (`Task.agreement`)."""
    return tasks.get(task).agreement(reference, edge)


def model_latency_ms(model, batch) -> float:
    """A Keras model's TFLite (dynamic-range) latency on `batch`: the NAS latency objective
    with `latency: "tflite"`. Needs the TensorFlow backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise EdgeExportError(
            "latency 'tflite' needs the TensorFlow backend; Keras runs on "
            + keras.backend.backend()
        )
    content = _convert(model, ("dynamic_range",))["dynamic_range"]
    features = batch if isinstance(batch, dict) else {"inputs": batch}
    return latency_ms(content, {k: keras.ops.convert_to_numpy(v) for k, v in features.items()}, 5)
