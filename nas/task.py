"""Task types, as the engine trains them: the head, the loss and metrics, and the objective with
its direction. One `Task` object per type; code asks the object instead of branching on a name.

- classification: a softmax over the classes, sparse categorical cross-entropy, accuracy;
  objective `val_accuracy`, higher is better.
- regression: one linear output rescaled by the training labels' mean and std (so a label of
  any scale trains at the usual learning rates), mean squared error, RMSE (`rmse`) and MAE
  (`mae`); objective `val_rmse`, lower is better.

Standard library at import (Keras is imported when a model is built), so the settings contract
reads the task names without Keras. The pipeline's side of a task (Evaluator gate, serving key,
pyfunc columns, edge agreement) is `core/tasks.py`, built on these objects.
"""

from __future__ import annotations

import dataclasses

# Metrics whose lower values are better: losses and errors.
_LOWER = ("loss", "rmse", "mae", "mse", "error")


def direction(objective: str) -> str:
    """KerasTuner's direction for a metric name: "min" for losses and errors, else "max"."""
    return "min" if objective.split("val_")[-1].endswith(_LOWER) else "max"


@dataclasses.dataclass(frozen=True)
class Task:
    """How the engine trains one task type: the head's activation and output count, whether the
    head is rescaled to the label's scale, the loss and metrics, and the search objective."""

    name: str
    objective: str
    activation: str | None
    loss: str
    rescaled: bool  # the head predicts in standard units, rescaled by the label's mean and std

    @property
    def direction(self) -> str:
        return direction(self.objective)

    @property
    def maximize(self) -> bool:
        return self.direction == "max"

    def outputs(self, n_classes: int) -> int:
        """Units of the head: one per class, or one value."""
        return 1 if self.rescaled else n_classes

    def metrics(self) -> list:
        """The task's metrics, and the row count of what each epoch trained and scored on
        (nas/epochs.py)."""
        import keras

        from nas.epochs import RowCount

        if self.rescaled:
            return [
                keras.metrics.RootMeanSquaredError(name="rmse"),
                keras.metrics.MeanAbsoluteError(name="mae"),
                RowCount(),
            ]
        return ["accuracy", RowCount()]

    def compile_args(self) -> dict:
        """`loss` and `metrics` for `model.compile`."""
        return {"loss": self.loss, "metrics": self.metrics()}

    def head(self, x, input_spec, kernel_initializer=None):
        """The output layer(s) on features `x`, float32 even under mixed precision."""
        import keras

        out = keras.layers.Dense(
            input_spec.n_outputs,
            activation=self.activation,
            kernel_initializer=kernel_initializer or "glorot_uniform",
            dtype="float32",
            name="head",
        )(x)
        if self.rescaled:  # standard units -> the label's scale
            out = keras.layers.Rescaling(
                input_spec.target_std, input_spec.target_mean, dtype="float32", name="target_scale"
            )(out)
        return out

    def best(self, values):
        """The best of `values` by this task's direction."""
        return max(values) if self.maximize else min(values)


CLASSIFICATION = Task(
    "classification", "val_accuracy", "softmax", "sparse_categorical_crossentropy", False
)
REGRESSION = Task("regression", "val_rmse", None, "mean_squared_error", True)
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, REGRESSION)}
NAMES = tuple(TASKS)


# Class weights (`class_weights`): the modes, and the minority share below which `auto` weighs.
CLASS_WEIGHTS = ("auto", "balanced", "none")
RARE_SHARE = 0.2


def class_weights(counts, mode: str) -> dict[int, float] | None:
    """Keras `class_weight` for training rows with `counts` per class (class-index order):
    `balanced` weighs class i by n / (k * n_i) over the k classes present, so each class
    carries the same total weight; `auto` does so only when the smallest class holds less than
    RARE_SHARE of the rows; `none`, and counts with fewer than two classes, give None."""
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight {mode!r} is not one of {list(CLASS_WEIGHTS)}")
    present = [int(c) for c in (counts or ()) if c > 0]
    if mode == "none" or len(present) < 2:
        return None
    total = sum(present)
    if mode == "auto" and min(present) / total >= RARE_SHARE:
        return None
    return {i: total / (len(present) * int(c)) for i, c in enumerate(counts) if c > 0}


def get(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task {name!r} is not one of {list(TASKS)}")
    return TASKS[name]
