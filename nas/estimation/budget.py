"""The search's budgets inside a trial: a trial ends at the batch in which the search's time
budget runs out (so the search ends on time whatever an epoch's size: on 2 million rows one epoch
can outlast the budget), or after the epoch in which its compute budget does; its row says why
it stopped early. Keras still scores the interrupted epoch on the validation rows."""

from __future__ import annotations

import keras


class Budget(keras.callbacks.Callback):
    """Ends the trial at the batch in which the search's time budget runs out, or after the
    epoch in which its compute budget does.

    `oracle` says what is left (`time_left()`, `compute_left()`, None for no budget); `seen`
    counts the example-epochs this trial trained before a restart. Each epoch adds the rows
    it logged (`rows_per_epoch`, nas/epochs.py), else `per_epoch`.

    What an epoch costs beside its batches counts too: training stops when what is left is
    the validation pass Keras runs after the last batch, and no epoch starts that cannot get
    through its set-up (a tf.data pipeline's first rows) and that pass. Both come from this
    trial's `meter` (nas/estimation/meter.py) once it measured them, else from `known`, the
    search's latest measured `Costs` (nas/estimation/planner.py)."""

    def __init__(self, oracle, per_epoch: int, seen: int = 0, meter=None, known=None):
        super().__init__()
        self.oracle, self.per_epoch, self.seen, self.hit = oracle, per_epoch, seen, False
        self.meter, self.known = meter, known

    def tail_s(self) -> float:
        """Seconds of a validation pass, as measured."""
        measured = self.meter.tail_s() if self.meter is not None else 0.0
        if measured or self.known is None or self.meter is None:
            return measured
        return self.meter.validation_rows / max(self.known.validation_rows_s, 1e-9)

    def head_s(self) -> float:
        """Seconds of an epoch's set-up, as measured."""
        measured = self.meter.head_s() if self.meter is not None else 0.0
        return measured or (self.known.setup_s if self.known is not None else 0.0)

    def _time_up(self, needed: float = 0.0) -> bool:
        left = self.oracle.time_left()
        return left is not None and left <= needed

    def _stop(self):
        self.hit = True
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self._time_up(self.tail_s()):
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self.seen += (logs or {}).get("rows_per_epoch", self.per_epoch)
        compute = self.oracle.compute_left()
        if self._time_up(self.head_s() + self.tail_s()) or (
            compute is not None and compute <= self.seen
        ):
            self._stop()


def stopped_by(stopper, rungs, budget: Budget) -> str | None:
    """Why a trial ended before its last epoch, for the leaderboard (None: it did not)."""
    if stopper is not None and stopper.stopped_epoch:
        return f"curve at epoch {stopper.stopped_epoch}"
    if rungs is not None and rungs.stopped_epoch:
        return f"halving at epoch {rungs.stopped_epoch}"
    if budget.hit:
        return "budget"
    return None
