"""Explanations on synthetic data where one column decides the label: both permutation
importance and Shapley values must rank it first. A real (small) Keras model is trained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.mlflow_pusher import explain

COLORS = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def model_and_rows():
    import keras

    rng = np.random.default_rng(0)
    n = 600
    rows = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "decider": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "color": rng.choice(COLORS, size=n).astype(object),
        }
    )
    y = (rows["decider"] > 0).astype(int).to_numpy()

    def matrix(r: pd.DataFrame) -> np.ndarray:
        color = [COLORS.index(c) if c in COLORS else -1 for c in r["color"]]
        cols = [r["noise_a"], r["decider"], r["noise_b"], color]
        return np.nan_to_num(np.stack([np.asarray(c, dtype="float32") for c in cols], axis=1))

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(matrix(rows), y, epochs=30, batch_size=32, verbose=0)

    def predict(r: pd.DataFrame) -> np.ndarray:
        return model.predict(matrix(r), verbose=0, batch_size=4096)

    assert explain.score("classification", y, predict(rows)) > 0.95  # it learned the rule
    return predict, rows.iloc[:200].reset_index(drop=True), y[:200]


def test_the_deciding_column_ranks_first_under_both_methods(model_and_rows, tmp_path):
    predict, rows, y = model_and_rows
    table = explain.explain(predict, rows, y, repeats=2, background=10, explained=15)
    assert list(table.columns) == list(explain.COLUMNS)
    top = table.set_index("feature")
    assert top.loc["decider", "permutation_rank"] == 1, table
    assert top.loc["decider", "shap_rank"] == 1, table
    # far ahead, not by a hair: shuffling it costs at least 0.3 accuracy
    assert top.loc["decider", "permutation"] > 0.3
    assert top.loc["decider", "shap"] > 3 * top.drop("decider")["shap"].max()
    png = explain.plot(table, str(tmp_path / "importance.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_regression_scores_by_rmse_and_bad_input_is_named():
    y = np.array([1.0, 2.0, 3.0])
    assert explain.score("regression", y, np.array([[1.0], [2.0], [5.0]])) == pytest.approx(
        -np.sqrt(4 / 3)
    )
    with pytest.raises(explain.ExplainError, match="2 labels for 3 rows"):
        explain.explain(lambda r: np.zeros((len(r), 2)), pd.DataFrame({"a": [1, 2, 3]}), [0, 1])
    with pytest.raises(explain.ExplainError, match="nothing to explain"):
        explain.explain(lambda r: r, pd.DataFrame(), [])


def test_a_tensor_column_is_explained_whole():
    """A 1-D signal per cell (a list, as the pusher's eval rows have it) decides the label: both
    methods move it whole (permuting rows' signals, or replacing a signal with a background
    row's) and rank it first; an encoded image column (bytes) passes through untouched."""
    rng = np.random.default_rng(1)
    n = 120
    y = np.arange(n) % 2
    rows = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "signal": [list(rng.normal(size=8) + (1.5 if c else -1.5)) for c in y],
            "photo": [b"\x89PNG" + bytes([i % 7]) for i in range(n)],
            "color": rng.choice(COLORS, size=n).astype(object),
        }
    )
    rows.loc[3, "signal"] = None  # a missing signal

    def predict(r: pd.DataFrame) -> np.ndarray:
        assert all(v is None or (isinstance(v, list) and len(v) == 8) for v in r["signal"])
        assert all(v is None or isinstance(v, bytes) for v in r["photo"])
        mean = np.array([0.0 if v is None else np.mean(v) for v in r["signal"]])
        p = 1 / (1 + np.exp(-4 * mean))
        return np.stack([1 - p, p], axis=1)

    table = explain.explain(predict, rows, y, repeats=2, background=8, explained=10)
    top = table.set_index("feature")
    assert top.loc["signal", "permutation_rank"] == 1 and top.loc["signal", "shap_rank"] == 1
    assert top.loc["signal", "permutation"] > 0.3
    assert top.drop("signal")["permutation"].abs().max() == 0
