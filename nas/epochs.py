"""What each epoch actually trained and scored on, counted while it runs (never read from a
config), so a test or a user can check that an epoch was a pass over the training rows and
that every trial was scored on the same validation rows.

- `RowCount`: a metric that counts the rows of every batch the model trains on; under
  Keras' `val_` prefix, the validation rows it is scored on. Every model the engine compiles
  has it (`nas.task.Task.compile_args`); `count_rows(model)` adds it to a model compiled
  elsewhere (the user's baseline, the Trainer's).
- `EpochLog`: a callback that counts the steps of each epoch and writes `steps_per_epoch`,
  `rows_per_epoch` and `validation_rows` into the epoch's logs, in place of the metric's raw
  `rows` / `val_rows`, so the per-epoch history, the checkpoints and the tracker keep them.
  Put it FIRST in the callbacks: the ones after it read what it wrote.
"""

from __future__ import annotations

import keras

ROWS = "rows"  # the metric's name; Keras logs it as `rows` and `val_rows`
STEPS_PER_EPOCH = "steps_per_epoch"
ROWS_PER_EPOCH = "rows_per_epoch"
VALIDATION_ROWS = "validation_rows"


@keras.saving.register_keras_serializable(package="nas")
class RowCount(keras.metrics.Metric):
    """Rows seen since the last reset (Keras resets metrics at each epoch's start). Counts in
    float32: exact up to 16.7 million rows an epoch."""

    def __init__(self, name: str = ROWS, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        n = keras.ops.shape(y_pred)[0]
        self.count.assign_add(keras.ops.cast(n, self.dtype))

    def result(self):
        return keras.ops.convert_to_tensor(self.count)

    def reset_state(self):
        self.count.assign(0.0)


def has_row_count(model) -> bool:
    config = model.get_compile_config() or {}
    return ROWS in repr(config.get("metrics"))


def count_rows(model) -> bool:
    """Make a compiled `model` count rows (`RowCount`): models compiled without it are
    compiled again with the same optimizer, loss and metrics plus it, before they train.
    Returns False where that cannot be done (a multi-output model, a loss or metric that does
    not deserialise): its epochs then log steps but not rows."""
    if not model.compiled or has_row_count(model):
        return model.compiled
    try:
        kwargs = keras.saving.deserialize_keras_object(model.get_compile_config())
    except Exception:  # the user's custom objects: training goes on without the count
        return False
    metrics = kwargs.get("metrics")
    if metrics is not None and not isinstance(metrics, (list, tuple)):
        return False
    kwargs["metrics"] = [*(metrics or []), RowCount()]
    model.compile(**kwargs)
    return True


class EpochLog(keras.callbacks.Callback):
    """Counts each epoch's steps and turns the `RowCount` metric's `rows` / `val_rows` into
    `rows_per_epoch` / `validation_rows` beside `steps_per_epoch` in the epoch's logs (see the
    module's docstring). `epochs` keeps one such record per epoch and `history` every logged
    value per epoch, for callers without a history of their own (the Trainer)."""

    def __init__(self):
        super().__init__()
        self.steps = 0
        self.epochs: list[dict] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        record = {STEPS_PER_EPOCH: self.steps}
        for raw, name in ((ROWS, ROWS_PER_EPOCH), (f"val_{ROWS}", VALIDATION_ROWS)):
            value = logs.pop(raw, None)
            if value is not None:
                record[name] = int(round(float(value)))
        logs.update(record)
        self.epochs.append({"epoch": epoch + 1, **record})
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))


def epoch_counts(history: dict) -> dict:
    """The leaderboard's account of what a trial's epochs trained on, from their logged
    history: the last epoch's steps, training rows and validation rows, and the training rows
    of all of them (`examples_seen`)."""
    keys = (STEPS_PER_EPOCH, ROWS_PER_EPOCH, VALIDATION_ROWS)
    out = {key: int(history[key][-1]) for key in keys if history.get(key)}
    out["examples_seen"] = int(sum(history.get(ROWS_PER_EPOCH, [])))
    return out


__all__ = ["EpochLog", "RowCount", "count_rows", "epoch_counts", "has_row_count"]
