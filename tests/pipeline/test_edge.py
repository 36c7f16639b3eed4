"""TFLite export of searched networks (core/tflite.py): both variants convert, run on a batch
and agree with the Keras model, classification (same class on >= 99% of rows) and regression
(within the stated tolerance on >= 99% of rows, through the target_scale head)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from core import tflite
from nas.inputs import Feature, InputSpec
from nas.spaces import get_space

FEATURES = (
    Feature("a_xf", "numeric"),
    Feature("b_xf", "numeric"),
    Feature("c_xf", "categorical", 5),
)


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "a_xf": rng.normal(size=(n, 1)).astype("float32"),
        "b_xf": rng.normal(size=(n, 1)).astype("float32"),
        "c_xf": rng.integers(0, 5, (n, 1)).astype("int64"),
    }
    return x, rng


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_both_variants_agree_with_the_keras_model(task, tmp_path):
    x, rng = data()
    if task == "regression":
        y = (40 * x["a_xf"][:, 0] - 10 * x["b_xf"][:, 0] + 3 * x["c_xf"][:, 0] + 150).astype(
            "float32"
        )
        spec = InputSpec(FEATURES, 1, task, float(y.mean()), float(y.std()))
    else:
        y = (x["a_xf"][:, 0] > 0).astype("int64") + (x["c_xf"][:, 0] > 2)
        spec = InputSpec(FEATURES, 3, task)
    space = get_space("chain", spec, seed=1)
    model = space.build_model(space.sample(random.Random(1)))
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    reference = np.asarray(model.predict(x, verbose=0))

    folder = tflite.export(model, str(tmp_path))
    assert json.load(open(f"{folder}/{tflite.INPUTS}")) == {
        "a_xf": "float32",
        "b_xf": "float32",
        "c_xf": "int64",
    }
    sizes = {}
    for variant in tflite.VARIANTS:
        content = open(f"{folder}/{variant}.tflite", "rb").read()
        sizes[variant] = len(content)
        out = tflite.run(content, x)
        assert out.shape == reference.shape
        assert tflite.agreement(reference, out, task) >= 0.99, variant
        assert tflite.latency_ms(content, {k: v[:1] for k, v in x.items()}, repeats=5) > 0
    # What the NAS latency objective measures with latency="tflite" (SearchConfig)
    assert tflite.model_latency_ms(model, {k: v[:32] for k, v in x.items()}) > 0
    if task == "regression":  # float is exact to rounding; the tolerance is stated in tflite.py
        float_out = tflite.run(open(f"{folder}/float.tflite", "rb").read(), x)
        assert np.max(np.abs(float_out - reference)) < 1e-3 * float(reference.std())


def test_agreement_counts_what_it_says():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    flipped = probs.copy()
    flipped[3] = [0.8, 0.2]
    assert tflite.agreement(probs, flipped) == 0.75
    ref = np.array([0.0, 10.0, 20.0, 30.0])  # std 11.18: tolerance 0.56
    assert tflite.agreement(ref, ref + np.array([0.5, 0.0, 0.0, 0.6]), "regression") == 0.75


def test_a_model_with_another_backend_is_refused_for_tflite_latency(monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(tflite.EdgeExportError, match="TensorFlow backend"):
        tflite.model_latency_ms(object(), {})


@pytest.mark.parametrize("units", [32, 64])
def test_dynamic_range_shrinks_only_weight_tensors_large_enough(units, tmp_path):
    """16 inputs x 64 units = 1,024 values: that kernel is quantised and the file shrinks; with
    32 units (512 values) no tensor reaches MIN_QUANTISED_VALUES and the files are the same
    size (the pusher says so; the Airflow test's champion may be such a small model)."""
    import keras

    inputs = keras.Input((16,), name="x_xf")
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    folder = tflite.export(model, str(tmp_path))
    size = {v: len(open(f"{folder}/{v}.tflite", "rb").read()) for v in tflite.VARIANTS}
    if 16 * units >= tflite.MIN_QUANTISED_VALUES:
        assert size["dynamic_range"] < 0.7 * size["float"]
    else:  # the same file, give or take a few bytes
        assert abs(size["dynamic_range"] - size["float"]) <= 0.01 * size["float"]
