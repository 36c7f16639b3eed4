"""What a trial's epochs cost on this machine, measured while they run: the probe's numbers
for the search's plan (nas/estimation/planner.py) and, for every trial, how long an epoch's
set-up and its validation pass take, so the time budget can count them (budget.py).

Per epoch, `Meter` times the first batch (the epoch's set-up: a tf.data pipeline's first rows
and shuffle buffer, and, in a trial's first epoch, tracing the training step), the steady
batches after `WARMUP` of them, and the validation pass Keras runs after the last batch.
"""

from __future__ import annotations

import time

import keras

from nas.estimation.planner import Costs

WARMUP = 3  # batches of an epoch not counted in its steady throughput


class Meter(keras.callbacks.Callback):
    """Times each epoch of a trial (see the module's docstring). `batch_size`: rows per batch;
    `validation_rows`: rows of one validation pass; `started`: when the trial began (before
    its model was built), so the first epoch's wait counts as the trial's overhead."""

    def __init__(self, batch_size: int, validation_rows: int, started: float | None = None):
        super().__init__()
        self.batch_size, self.validation_rows = batch_size, validation_rows
        self.started = time.time() if started is None else started
        self.epochs: list[dict] = []  # per epoch: setup_s, steady_s, steady_batches, validation_s
        self._begin = self._warm = self._first_end = self._test = None
        self._batches = 0
        self._first_begin = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.time()
        if self._first_begin is None:
            self._first_begin = self._begin
        self._batches, self._warm, self._first_end = 0, None, None
        self.epochs.append({"steady_s": 0.0, "steady_batches": 0})

    def on_train_batch_end(self, batch, logs=None):
        if not self.epochs:
            return
        now, record = time.time(), self.epochs[-1]
        self._batches += 1
        if self._batches == 1:
            record["first_s"] = now - self._begin
            self._first_end = now
        if self._batches == WARMUP:
            self._warm = now
        # steady batches: those after the first WARMUP, else those after the first
        start, skipped = (self._warm, WARMUP) if self._batches > WARMUP else (self._first_end, 1)
        if self._batches > skipped:
            record["steady_s"] = now - start
            record["steady_batches"] = self._batches - skipped

    def on_test_begin(self, logs=None):
        self._test = time.time()

    def on_test_end(self, logs=None):
        if self._test is not None and self.epochs:
            self.epochs[-1]["validation_s"] = time.time() - self._test

    # ---- what was measured -----------------------------------------------------------------
    def batch_s(self) -> float | None:
        """Seconds of a steady training batch over every epoch so far (None: too few)."""
        s = sum(r["steady_s"] for r in self.epochs)
        n = sum(r["steady_batches"] for r in self.epochs)
        return s / n if n else None

    def head_s(self) -> float:
        """Seconds an epoch takes before its first batch trains (the last epoch's set-up)."""
        batch = self.batch_s() or 0.0
        done = [r["first_s"] for r in self.epochs if r.get("first_s") is not None]
        if not done:
            return 0.0
        return max(0.0, done[-1] - batch)

    def tail_s(self) -> float:
        """Seconds of a validation pass (the longest measured; 0 before the first)."""
        return max((r["validation_s"] for r in self.epochs if "validation_s" in r), default=0.0)

    def least_s(self) -> float:
        """Seconds this trial needed before it could train a batch and be scored: from its
        start to its first batch's end, plus a validation pass (0 before one was scored)."""
        firsts = [r["first_s"] for r in self.epochs if r.get("first_s") is not None]
        if not firsts or not self.tail_s():
            return 0.0
        return (self._first_begin or self.started) - self.started + firsts[0] + self.tail_s()

    def costs(self) -> Costs | None:
        """What was measured, as the planner reads it (None before an epoch was scored). An
        epoch's set-up is what the epochs after the first waited for their first batch; the
        first epoch's wait beyond it (tracing the model's steps) is the trial's overhead, with
        the time before the first epoch (building the model). With one epoch measured the
        set-up is unknown: counted as the trial's, once."""
        batch, tail = self.batch_s(), self.tail_s()
        firsts = [r["first_s"] for r in self.epochs if r.get("first_s") is not None]
        if batch is None or not tail or not firsts:
            return None
        later = [max(0.0, f - batch) for f in firsts[1:]]
        setup = later[-1] if later else 0.0
        before = (self._first_begin or self.started) - self.started
        overhead = before + max(0.0, firsts[0] - batch - setup)
        return Costs(
            train_rows_s=self.batch_size / batch,
            validation_rows_s=self.validation_rows / tail,
            setup_s=round(setup, 3),
            overhead_s=round(overhead, 3),
        )


__all__ = ["WARMUP", "Meter"]
