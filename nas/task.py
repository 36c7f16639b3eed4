"""Classification or regression: the head, loss, metrics and objective each task gets.

Classification: a softmax over `n_outputs` classes, sparse categorical cross-entropy, accuracy,
objective `val_accuracy` (higher is better). Regression: one linear output, mean squared error,
RMSE (`rmse`) and MAE (`mae`), objective `val_rmse` (lower is better).
"""

from __future__ import annotations

TASKS = ("classification", "regression")
OBJECTIVES = {"classification": "val_accuracy", "regression": "val_rmse"}
# The serving signature's output per task (the user module writes the same names, as it
# cannot import the project at module level).
SERVING_OUTPUT = {"classification": "probabilities", "regression": "predictions"}
# Objectives where lower is better: losses and errors.
_LOWER = ("loss", "rmse", "mae", "mse", "error")


def check(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {list(TASKS)}")
    return task


def direction(objective: str) -> str:
    """KerasTuner's direction for a metric name: "min" for losses and errors, else "max"."""
    return "min" if objective.split("val_")[-1].endswith(_LOWER) else "max"


def head_activation(task: str) -> str | None:
    return "softmax" if task == "classification" else None


def compile_args(task: str) -> dict:
    """`loss` and `metrics` for `model.compile`."""
    import keras

    if task == "regression":
        return {
            "loss": "mean_squared_error",
            "metrics": [
                keras.metrics.RootMeanSquaredError(name="rmse"),
                keras.metrics.MeanAbsoluteError(name="mae"),
            ],
        }
    return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
