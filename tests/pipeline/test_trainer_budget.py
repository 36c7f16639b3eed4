"""The Trainer's epochs follow the search's time budget (pipelines/trainer_budget.py): planned
from the search's measured costs, at least one full pass, at most its epoch cap (`train_epochs`,
by default five times the trials' epochs); and bounded while they run, with the best epoch's
weights kept."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import trainer_budget

# 1,000 training rows/s, 10,000 validation rows/s, 2 s an epoch's set-up.
COSTS = {"train_rows_s": 1000.0, "validation_rows_s": 10000.0, "setup_s": 2.0, "overhead_s": 5.0}


def test_planned_epochs_fit_the_budget_at_the_measured_costs():
    # A pass: 2 s + 8,000 / 1,000 + 10,000 / 10,000 = 11 s.
    assert trainer_budget.planned_epochs(10, 60, COSTS, 8_000, 10_000)[0] == 5
    assert trainer_budget.planned_epochs(3, 60, COSTS, 8_000, 10_000)[0] == 3  # configured cap
    # A pass longer than the budget (1.6 million rows: 1,613 s): still one full pass.
    epochs, why = trainer_budget.planned_epochs(10, 240, COSTS, 1_600_000, 10_000)
    assert epochs == 1 and "1 of 10 epochs" in why
    # No budget, or no measured costs: the configured epochs (TimeBox bounds the latter).
    assert trainer_budget.planned_epochs(10, 0, COSTS, 1_600_000, 10_000)[0] == 10
    assert trainer_budget.planned_epochs(10, 240, None, 1_600_000, 10_000)[0] == 10


def test_the_trainers_cap_is_train_epochs_else_a_multiple_of_the_trials_epochs():
    from core.operator_settings import TRAIN_EPOCHS_FACTOR
    from core.settings import SETTINGS

    assert SETTINGS["train_epochs"].default == 0  # the multiple, unless the operator sets one
    assert trainer_budget.epoch_cap(0, 10) == TRAIN_EPOCHS_FACTOR * 10 == 50
    assert trainer_budget.epoch_cap(12, 10) == 12  # the operator's, even under the trials'
    # Early stopping waits three quarters of the trials' epochs, at least 2: 7 at the default
    # 10, whatever the cap (an operator's larger cap only lets training go on).
    assert [trainer_budget.patience(e) for e in (1, 2, 6, 10, 40)] == [2, 2, 4, 7, 30]


class Clock:
    """A clock the test moves: `_fit` adds an epoch's seconds at each epoch's end."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _fit(epochs: int, budget_s: float, epoch_s: float):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    clock = Clock()

    class Tick(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock.now += epoch_s

    box = trainer_budget.TimeBox(budget_s, clock=clock)
    best = keras.callbacks.EarlyStopping(patience=100, restore_best_weights=True)
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        batch_size=64,
        epochs=epochs,
        callbacks=[Tick(), best, box],  # the clock ticks before the box reads it
        verbose=0,
    )
    return len(history.history["loss"]), box, best


def test_training_stops_when_one_more_epoch_would_end_past_the_budget():
    # 10 s an epoch, 35 s: after 3 epochs (30 s) a fourth would end at 40 s.
    run, box, best = _fit(epochs=10, budget_s=35, epoch_s=10)
    assert run == 3 and box.stopped_epoch == 3
    assert best.best_weights is not None  # EarlyStopping still restores the best epoch's
    # An epoch longer than the budget: the first still runs, and only it.
    run, box, _ = _fit(epochs=10, budget_s=5, epoch_s=10)
    assert run == 1 and box.stopped_epoch == 1
    # Enough budget: every planned epoch, and the box says it did not stop them.
    run, box, _ = _fit(epochs=4, budget_s=1000, epoch_s=10)
    assert run == 4 and box.stopped_epoch == 0


def _compiled(learning_rate):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    return model


def test_a_constant_rate_drops_on_a_plateau_and_a_schedule_is_left_alone():
    import keras

    model = _compiled(0.01)
    (drop,) = trainer_budget.lower_rate(model, patience=7)
    assert drop.patience == 3  # half the early stop's: the lower rate gets epochs to show
    drop.set_model(model)
    drop.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.9, 0.9, 0.95, 0.9]):  # no lower loss after epoch 2
        drop.on_epoch_end(epoch, {"val_loss": loss})
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)  # a fifth
    # A searched schedule sets its own rate (Keras refuses to set it): no callback.
    cosine = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=100)
    assert trainer_budget.lower_rate(_compiled(cosine), patience=7) == []
