"""The search's budgets inside a trial: a trial ends after the epoch in which the search's time
or compute budget runs out, and its row says why it stopped early."""

from __future__ import annotations

import keras


class Budget(keras.callbacks.Callback):
    """Ends the trial after the epoch in which the search's time or compute budget runs out.

    `oracle` says what is left (`time_left()`, `compute_left()`, None for no budget); `seen`
    counts the example-epochs this trial trained before a restart."""

    def __init__(self, oracle, per_epoch: int, seen: int = 0):
        super().__init__()
        self.oracle, self.per_epoch, self.seen, self.hit = oracle, per_epoch, seen, False

    def on_epoch_end(self, epoch, logs=None):
        self.seen += self.per_epoch
        left = self.oracle.time_left()
        compute = self.oracle.compute_left()
        if (left is not None and left <= 0) or (compute is not None and compute <= self.seen):
            self.hit = True
            self.model.stop_training = True


def stopped_by(stopper, rungs, budget: Budget) -> str | None:
    """Why a trial ended before its last epoch, for the leaderboard (None: it did not)."""
    if stopper is not None and stopper.stopped_epoch:
        return f"curve at epoch {stopper.stopped_epoch}"
    if rungs is not None and rungs.stopped_epoch:
        return f"halving at epoch {rungs.stopped_epoch}"
    if budget.hit:
        return "budget"
    return None
