"""Successive halving inside any strategy (ASHA-style rungs, sequential).

At each rung (an epoch count, e.g. 1 and 3) a trial continues only if its best score so far is
in the top `1/eta` of the scores that earlier trials had at the same rung. The first trial to
reach a rung always continues, so every search trains at least one candidate in full.

This is Hyperband's screening without Hyperband's fixed brackets: the strategy (evolution,
REINFORCE, random...) still proposes every candidate, and most poor ones cost one epoch.
"""

from __future__ import annotations

import math

from nas.estimation.stopper import EpochStopper


def keeps(value: float, earlier: list[float], eta: int, maximize: bool = True) -> bool:
    """Whether `value` is in the top 1/eta of `earlier + [value]` (at least the best one)."""
    sign = 1 if maximize else -1
    better = sum(1 for v in earlier if sign * v > sign * value)
    slots = max(1, math.floor((len(earlier) + 1) / eta))
    return better < slots


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
