"""The search's time budget stops KerasTuner from starting new trials (Keras 3, real tuner)."""

from __future__ import annotations

import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")
keras_tuner = pytest.importorskip("keras_tuner")

from pipelines.user_module import model_module  # noqa: E402


def build(hp):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 64)), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    return model


def search(tmp_path, budget_s: float) -> int:
    tuner = keras_tuner.RandomSearch(
        build, objective="val_loss", max_trials=4, directory=str(tmp_path), seed=1
    )
    key = str(tmp_path)
    model_module._BUDGETS[key] = (time.monotonic() + budget_s, tuner.oracle)
    x, y = np.random.rand(32, 4), np.random.rand(32, 1)
    tuner.search(
        x,
        y,
        validation_data=(x, y),
        epochs=2,
        verbose=0,
        callbacks=[model_module.TimeBudget(key)],
    )
    return len(tuner.oracle.trials)


def test_spent_budget_stops_after_the_running_trial(tmp_path):
    assert search(tmp_path / "spent", budget_s=0) == 1


def test_ample_budget_runs_every_trial(tmp_path):
    assert search(tmp_path / "ample", budget_s=3600) == 4
