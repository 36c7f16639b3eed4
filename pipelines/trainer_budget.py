"""The Trainer's epochs follow the search's time budget (issue 32): without it the Trainer ran
its configured epochs over every training row whatever the table's size (at 2 million rows,
6 passes of 1.6 million rows took 1,340 s after a 4-minute search; bench/scale/RESULTS.md).

The Trainer gets as long as the search had (`time_budget_min`), with at least one full pass:

- planned: the full passes over every training row (each scored on the validation rows) that
  fit in the budget at the search's measured costs (`Costs`, nas/estimation/planner.py,
  measured on its first trial: another model and batch size, so an estimate), at least one,
  at most its epoch cap (`train_epochs`: by default five times the trials' `epochs`); a
  searched learning-rate schedule runs over those;
- measured (`TimeBox`): after each epoch, training stops when one more epoch, at the mean of
  those it ran, would end past the budget; the first epoch always runs.

Early stopping on the validation loss with `restore_best_weights` stays: the registered model
is still the best epoch's. Its patience is three quarters of the trials' epochs (`patience`),
and a constant learning rate drops to a fifth after half that patience without a lower
validation loss (`lower_rate`): on MNIST-1D-like signals (development seeds) the cap and the
drop together took fresh-row accuracy from 0.978-0.986 to 0.990-0.996
(bench/vision/mnist1d-dev/README.md).
Keras only (and the planner's standard-library arithmetic).
"""

from __future__ import annotations

import time

import keras

from core.operator_settings import TRAIN_EPOCHS_FACTOR
from nas.estimation.planner import Costs


def epoch_cap(train_epochs: int, epochs: int) -> int:
    """The Trainer's most epochs: the operator's `train_epochs`, else TRAIN_EPOCHS_FACTOR times
    the trials' `epochs` (core/operator_settings.py declares both)."""
    return int(train_epochs) or TRAIN_EPOCHS_FACTOR * int(epochs)


def patience(epochs: int) -> int:
    """Early stopping's patience: epochs without a lower validation loss before the Trainer
    stops, from the trials' `epochs` (the scale of their training), not from the cap, so a cap
    that does not bind changes nothing: three quarters of them, at least 2."""
    return max(2, 3 * int(epochs) // 4)


def planned_epochs(
    epochs: int, budget_s: float, costs: dict | None, train_rows: int, validation_rows: int
) -> tuple[int, str]:
    """(epochs to plan, why, for the Trainer's log line). `costs`: the search's measured
    `Costs` as a dict (None: the search made no plan; only `TimeBox` bounds the epochs)."""
    if not budget_s:
        return epochs, f"{epochs} epochs (no time budget)"
    if not costs:
        return epochs, (
            f"up to {epochs} epochs while they fit in the {budget_s:.0f} s time budget "
            "(no measured costs from the search: bounded by the epochs as they run)"
        )
    c = Costs(**costs)
    pass_s = c.epoch_s(train_rows, validation_rows)
    fit = max(1, int(budget_s // pass_s)) if pass_s > 0 else epochs
    planned = min(epochs, fit)
    return planned, (
        f"{planned} of {epochs} epochs: the {budget_s:.0f} s time budget fits {fit} full "
        f"pass(es) of about {pass_s:.0f} s at the search's measured {c.train_rows_s:,.0f} "
        f"training rows/s (at least one pass; stopped sooner when the epochs as they run "
        "would end past the budget)"
    )


def lower_rate(model, patience: int) -> list:
    """A constant learning rate is cut to a fifth after half the early stop's patience without
    a lower validation loss ([] for a learning-rate schedule: it sets its own)."""
    if isinstance(model.optimizer.get_config().get("learning_rate"), dict):
        return []
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.2, patience=max(1, patience // 2), verbose=1
        )
    ]


class TimeBox(keras.callbacks.Callback):
    """Stops training after an epoch when one more, at the mean of those run, would end past
    `budget_s` seconds from the start of training; the first epoch always runs."""

    def __init__(self, budget_s: float, clock=time.monotonic):
        super().__init__()
        self.budget_s, self.clock = budget_s, clock
        self.started = None
        self.stopped_epoch = 0  # the epoch (1-based) after which it stopped, 0: it did not

    def on_train_begin(self, logs=None):
        self.started = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.params.get("epochs", epoch + 2):  # the last epoch ends anyway
            return
        elapsed = self.clock() - self.started
        if self.budget_s and elapsed + elapsed / (epoch + 1) > self.budget_s:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
