"""Successive halving inside any strategy (ASHA-style rungs, sequential).

At each rung (an epoch count, e.g. 1 and 3) a trial continues only if its best score so far is
in the top `1/eta` of the scores that earlier trials had at the same rung. The first trial to
reach a rung always continues, so every search trains at least one candidate in full.

This is Hyperband's screening without Hyperband's fixed brackets: the strategy (evolution,
REINFORCE, random...) still proposes every candidate, and most poor ones cost one epoch.

With row fidelity (`row_fractions`), the epochs up to each rung train on a share of the
training rows (e.g. 1/9 up to rung 1, 1/3 up to rung 2, then all of them), so on a large table
most poor candidates cost a ninth of an epoch. Every trial follows the same schedule, so their
scores at a rung stay comparable.
"""

from __future__ import annotations

import math
from fractions import Fraction

from nas.estimation.stopper import EpochStopper


def keeps(value: float, earlier: list[float], eta: int, maximize: bool = True) -> bool:
    """Whether `value` is in the top 1/eta of `earlier + [value]` (at least the best one)."""
    sign = 1 if maximize else -1
    better = sum(1 for v in earlier if sign * v > sign * value)
    slots = max(1, math.floor((len(earlier) + 1) / eta))
    return better < slots


def row_fractions(rungs, fractions, epochs: int) -> list[float]:
    """The share of the training rows each of `epochs` epochs trains on: epochs up to rung i
    (sorted) on `fractions[i]`, later ones (and rungs without a share) on all of them."""
    out, bounds = [], sorted(rungs)
    for e in range(epochs):
        i = next((k for k, r in enumerate(bounds) if e < r), len(bounds))
        out.append(float(fractions[i]) if i < min(len(bounds), len(fractions)) else 1.0)
    return out


def describe_rows(rungs, fractions) -> str:
    """Row fidelity's schedule for a leaderboard row, e.g. "rows 1/9 to epoch 1, 1/3 to 3"."""
    parts = [
        f"{Fraction(f).limit_denominator(100)} to {'epoch ' if i == 0 else ''}{r}"
        for i, (r, f) in enumerate(zip(sorted(rungs), fractions, strict=False))
    ]
    return "rows " + ", ".join(parts)


def rung_scores(histories: list[list[float]], rungs, maximize: bool = True) -> dict:
    """{rung: [best score within the first `rung` epochs]} over the histories that reached it."""
    pick = max if maximize else min
    return {r: [pick(h[:r]) for h in histories if len(h) >= r] for r in rungs}


class RungStopper(EpochStopper):
    """Stops a trial at the first rung where it falls outside the top 1/eta."""

    def __init__(
        self,
        monitor: str,
        rungs,
        earlier: dict,
        *,
        eta: int = 3,
        maximize: bool = True,
        history: list[float] | None = None,
    ):
        super().__init__(monitor, history)
        self.rungs, self.earlier = sorted(rungs), earlier
        self.eta, self.maximize = eta, maximize

    def should_stop(self) -> bool:
        n = len(self.values)
        if n not in self.rungs:
            return False
        best = max(self.values) if self.maximize else min(self.values)
        return not keeps(best, self.earlier.get(n, []), self.eta, self.maximize)
