"""The search's plan: how many trials, on what share of the training rows and for how many
epochs, so that a time-budgeted search ends on time and is still a search at any table size.

A budget alone stops a search on time but does not make it one: on 1.6 million training rows
a 4-minute budget trained one trial. The plan is made once, from what the first trial (the
probe) measured on this machine (`Costs`, nas/estimation/meter.py), and shares out the time
that was left then:

    trial_s(f, e) = overhead_s + e x (setup_s + f x train_rows / train_rows_s
                                      + validation_rows / validation_rows_s)

It keeps the re-evaluation's reserve first (one round of the top candidates at full fidelity:
every training row, the full epochs; when that round does not fit in `reevaluate_share` of the
budget it is skipped rather than cut short), then fills `SLACK` of the rest: it picks the row
share `f` (the row-fidelity rungs' shares when row fidelity is on, then thirds, never an epoch
below `MIN_EPOCH_ROWS` rows) and the epochs `e` (up to the search's) that train the most rows
per trial, f x e, more epochs on a tie, such that `min_trials` trials fit. A small table keeps
every row and every epoch; a big one gets a row share and fewer epochs. When not even the
cheapest trial fits `min_trials` times, the plan takes it and says how many fit.

Standard library only: the arithmetic is tested on its own.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

# Planned trials fill at most this share of the time left: later candidates are larger than
# the probe (a plain two-layer network) and train slower.
SLACK = 0.8
# A planned epoch trains on at least this many rows (all of them on a smaller table): below
# it a candidate's score no longer ranks it (the reason row fidelity waits for 100,000 rows,
# whose ninth still holds over 10,000).
MIN_EPOCH_ROWS = 10_000


@dataclasses.dataclass(frozen=True)
class Costs:
    """What training costs on this machine for this model family, measured on the probe: rows
    trained and validation rows scored a second, each epoch's set-up before its first batch
    trains (a tf.data pipeline's first rows, its shuffle buffer) and each trial's own overhead
    (building, compiling and tracing the model)."""

    train_rows_s: float
    validation_rows_s: float
    setup_s: float = 0.0
    overhead_s: float = 0.0

    def epoch_s(self, rows: int, validation_rows: int) -> float:
        """Seconds of one epoch over `rows` training rows, scored on `validation_rows`."""
        train = rows / max(self.train_rows_s, 1e-9)
        return self.setup_s + train + validation_rows / max(self.validation_rows_s, 1e-9)

    def trial_s(self, epochs: int, rows: int, validation_rows: int) -> float:
        """Seconds of one trial of `epochs` epochs over `rows` training rows each."""
        return self.overhead_s + epochs * self.epoch_s(rows, validation_rows)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A search's plan (see the module's docstring): the trials it aims for, each epoch's share
    of the training rows and the epochs of a trial, the seconds it shared out and what it kept
    for the re-evaluation (`reevaluate` False: one round does not fit, it is skipped)."""

    left_s: float
    costs: Costs
    train_rows: int
    trials: int
    data_fraction: float
    epochs: int
    trial_s: float
    reserve_s: float = 0.0
    reevaluate: bool = True

    @property
    def rows_per_epoch(self) -> int:
        return rows_of(self.train_rows, self.data_fraction)

    @property
    def is_full(self) -> bool:
        return self.data_fraction >= 1.0

    def shares(self, shares: list[float]) -> list[float]:
        """A trial's per-epoch row shares under this plan: at most `epochs` of them, each at
        most the plan's share (row fidelity's smaller shares at its first rungs stay)."""
        return [min(s, self.data_fraction) for s in shares[: self.epochs]]

    def describe(self) -> str:
        """The plan's fidelity for a leaderboard row, e.g. "plan: rows <= 1/9, 3 epoch(s)"
        (row fidelity's smaller shares at its first rungs stay)."""
        share = Fraction(self.data_fraction).limit_denominator(1000)
        return f"plan: rows <= {share}, {self.epochs} epoch(s)"

    def line(self) -> str:
        """The plan in one readable line, for the log and the report."""
        c = self.costs
        share = Fraction(self.data_fraction).limit_denominator(1000)
        reeval = (
            f"{self.reserve_s:.0f} s kept for the re-evaluation"
            if self.reevaluate and self.reserve_s
            else "no re-evaluation reserve"
            if self.reevaluate
            else "re-evaluation skipped (one round does not fit)"
        )
        return (
            f"NAS plan: {self.left_s:.0f} s left of the budget, measured {c.train_rows_s:,.0f} "
            f"training rows/s, {c.validation_rows_s:,.0f} validation rows/s, {c.setup_s:.1f} s "
            f"an epoch's set-up, {c.overhead_s:.1f} s a trial's; aims for {self.trials} "
            f"trial(s) of {self.epochs} epoch(s) on {self.rows_per_epoch:,} of "
            f"{self.train_rows:,} training rows an epoch ({share}), about "
            f"{self.trial_s:.0f} s a trial; {reeval}"
        )

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["rows_per_epoch"] = self.rows_per_epoch
        out["line"] = self.line()
        return out


def rows_of(train_rows: int, fraction: float) -> int:
    """Training rows at share `fraction` (at least one), as nas/data.py `rows_for` counts."""
    return max(1, min(train_rows, int(math.ceil(train_rows * fraction))))


def fractions_for(train_rows: int, rungs=(), min_rows: int = MIN_EPOCH_ROWS) -> list[float]:
    """The row shares a plan may choose, largest first: all rows, the row-fidelity rungs'
    shares (`rungs`), then thirds of the smallest, none with fewer than `min_rows` rows (all
    rows always stay)."""
    floor = min(train_rows, min_rows)
    out = {1.0, *(float(f) for f in rungs if 0 < f <= 1)}
    f = min(out)
    while rows_of(train_rows, f / 3) >= floor and f / 3 > 0:
        f /= 3
        out.add(f)
    return sorted((f for f in out if rows_of(train_rows, f) >= floor), reverse=True)


def reevaluation_s(costs: Costs, candidates: int, epochs: int, train_rows: int, val: int) -> float:
    """Seconds of one re-evaluation round: `candidates` runs at full fidelity."""
    return candidates * costs.trial_s(epochs, train_rows, val) if candidates > 1 else 0.0


def make_plan(
    *,
    left_s: float,
    costs: Costs,
    train_rows: int,
    validation_rows: int,
    epochs: int,
    max_trials: int,
    min_trials: int,
    rungs=(),
    reevaluate_top: int = 1,
    reevaluate_cap_s: float = 0.0,
    slack: float = SLACK,
    min_rows: int = MIN_EPOCH_ROWS,
) -> Plan:
    """The plan for `left_s` seconds (see the module's docstring). `rungs`: row fidelity's
    shares when it is on; `reevaluate_top` > 1 and `reevaluate_cap_s` (the most the
    re-evaluation may keep): its reserve."""
    round_s = reevaluation_s(costs, reevaluate_top, epochs, train_rows, validation_rows)
    reevaluate = round_s <= reevaluate_cap_s
    reserve = round_s if reevaluate else 0.0
    usable = max(0.0, left_s - reserve) * slack
    target = max(1, min(max_trials, min_trials))
    best = None  # (rows trained a trial, epochs, fraction, seconds a trial)
    cheapest = None
    for f in fractions_for(train_rows, rungs, min_rows):
        rows = rows_of(train_rows, f)
        for e in range(max(1, epochs), 0, -1):
            s = costs.trial_s(e, rows, validation_rows)
            if cheapest is None or s < cheapest[3]:
                cheapest = (rows * e, e, f, s)
            if target * s <= usable and (best is None or (rows * e, e) > best[:2]):
                best = (rows * e, e, f, s)
    _, e, f, s = best or cheapest
    trials = max(1, min(max_trials, int(usable // s) if s > 0 else max_trials))
    return Plan(
        left_s=left_s,
        costs=costs,
        train_rows=train_rows,
        trials=trials,
        data_fraction=f,
        epochs=e,
        trial_s=s,
        reserve_s=reserve,
        reevaluate=reevaluate,
    )


def for_search(config, data, costs: Costs, left_s: float, epochs: int) -> Plan:
    """The plan of a search with `config` (its `plan_min_trials`, `max_trials`, row fidelity
    and re-evaluation knobs, nas/config.py) over `data` (its row counts), for `left_s` seconds
    and trials of up to `epochs` epochs."""
    rungs = config.halving_row_fractions if config.row_fidelity_on(data.train_rows) else ()
    return make_plan(
        left_s=left_s,
        costs=costs,
        train_rows=data.train_rows,
        validation_rows=data.validation_rows,
        epochs=epochs,
        max_trials=config.max_trials,
        min_trials=config.plan_min_trials,
        rungs=rungs,
        reevaluate_top=config.reevaluate_top,
        reevaluate_cap_s=config.reevaluate_share * 60 * config.time_budget_min,
    )


__all__ = [
    "MIN_EPOCH_ROWS",
    "SLACK",
    "Costs",
    "Plan",
    "for_search",
    "fractions_for",
    "make_plan",
    "rows_of",
]
