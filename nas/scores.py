"""How a trial's score is read and compared: its best epoch, the tie-break, the standard error.

- A trial's score is its best epoch's objective; among epochs with the same score, the one with
  the lowest validation loss (`best_epoch`). Its checkpoint keeps that epoch's weights.
- Candidates are ranked by score, then by validation loss at that epoch (`rank_key`): on a
  few thousand validation rows many trials tie on accuracy, and the loss still tells a
  confident model from a lucky one.
- Every score has a standard error over the n validation rows it was computed on
  (`standard_error`), so a user sees when two trials differ by noise:
  - accuracy (a proportion): binomial, sqrt(p (1 - p) / n);
  - RMSE: RMSE / sqrt(2 n), the delta method for normal errors with mean zero (the mean
    squared error of n such errors has variance 2 sigma^4 / n);
  - MAE: MAE * sqrt((pi / 2 - 1) / n), for the same normal errors;
  - other objectives: none (None).

Standard library only.
"""

from __future__ import annotations

import math

LOSS = "val_loss"


def better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def best_epoch(history: dict, objective: str, maximize: bool) -> int | None:
    """The 0-based index of the best epoch of `history` ({metric: per-epoch values}): the best
    `objective`, ties broken by the lowest validation loss. None without any."""
    values = history.get(objective) or []
    losses = history.get(LOSS) or []
    best = None
    for i, v in enumerate(values):
        if not math.isfinite(v):
            continue
        loss = losses[i] if i < len(losses) and math.isfinite(losses[i]) else math.inf
        if best is None or better(v, values[best], maximize):
            best, best_loss = i, loss
        elif v == values[best] and loss < best_loss:
            best, best_loss = i, loss
    return best


def score_of(history: dict, objective: str, maximize: bool) -> dict:
    """A trial's (or run's) score from its per-epoch history: the best epoch's `objective`,
    that epoch's validation loss and number (1-based), and the score's standard error over the
    validation rows that epoch logged (`validation_rows`, nas/epochs.py)."""
    values = history[objective]
    i = best_epoch(history, objective, maximize)
    if i is None:  # diverged: no finite score
        return {"score": float(values[-1]), "val_loss": None, "best_epoch": None}
    n = (history.get("validation_rows") or [None] * (i + 1))[i]
    losses = history.get(LOSS) or []
    return {
        "score": float(values[i]),
        "score_se": standard_error(objective, float(values[i]), n),
        "val_loss": float(losses[i]) if i < len(losses) else None,
        "best_epoch": i + 1,
    }


def improves(value, loss, best_value, best_loss, maximize: bool) -> bool:
    """Whether an epoch with (`value`, `loss`) beats the best so far (same rule as
    `best_epoch`): a better score, or the same score and a lower loss."""
    if best_value is None:
        return True
    if better(value, best_value, maximize):
        return True
    return value == best_value and loss is not None and (best_loss is None or loss < best_loss)


def standard_error(objective: str, score: float | None, n: int | None) -> float | None:
    """The standard error of `score` (the objective's value over `n` validation rows), as the
    module's docstring says; None where it does not apply."""
    if score is None or not n or not math.isfinite(score):
        return None
    name = objective.removeprefix("val_")
    if name.endswith("accuracy") and 0 <= score <= 1:
        return math.sqrt(score * (1 - score) / n)
    if name == "rmse":
        return score / math.sqrt(2 * n)
    if name == "mae":
        return score * math.sqrt((math.pi / 2 - 1) / n)
    return None


def rank_key(row: dict, maximize: bool) -> tuple:
    """Sort key, best first: scored rows first; re-evaluated rows (nas/estimation/reevaluate.py)
    first among them, by mean score and mean validation loss; then by score and validation
    loss; the trial id last, so the order is total."""
    sign = -1 if maximize else 1
    score = row.get("score")
    mean = row.get("score_mean")
    value = mean if mean is not None else score
    loss = row.get("val_loss_mean") if mean is not None else row.get(LOSS)
    unscored = score is None or (isinstance(value, float) and not math.isfinite(value))
    return (
        unscored,
        mean is None,
        sign * (value or 0.0) if not unscored else 0.0,
        loss if isinstance(loss, (int, float)) and math.isfinite(loss) else math.inf,
        str(row["trial_id"]),
    )


def shown(score: float | None, se: float | None) -> str:
    """`0.9312±0.0040` (or `0.9312`, or `-` without a score)."""
    if score is None:
        return "-"
    return f"{score:.4f}" if se is None else f"{score:.4f}±{se:.4f}"


__all__ = ["best_epoch", "improves", "rank_key", "score_of", "shown", "standard_error"]
