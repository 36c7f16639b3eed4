"""A season of weekly batches of a churn-like table: gradual drift, one abrupt shift, one
corrupted batch, and a fixed future holdout. numpy only; the same seed gives the same rows.

Each row: six numeric columns `x0`..`x5`, `tenure` (months, an integer), `plan` (basic, plus,
pro) and the label `churned` (0/1, about one row in four). Week t's label is drawn from
sigmoid(logit), the logit linear in the columns with week-dependent weights:

- **gradual drift**, every week: the means of x0 and x1 move by 0.05 and the weights by a small
  step (x0's fade, x3's and x5's grow), and the plan mix moves from basic towards pro;
- **abrupt shift**, from week `shift` on: a new concept (a pricing change): x0 hardly matters,
  x3 and x5 matter strongly, the plans' effects flip. The columns' own distributions barely
  move, so the data validator's drift check has nothing to stop: only the model can follow;
- **corrupted batch**, week `corrupt`: a broken join; every label is shuffled across the rows
  (the share of positives unchanged, the columns intact), so nothing can be learnt from it;
- **holdout**: `holdout` rows of the last week's distribution, drawn apart from its batch:
  never trained on.

    python bench/season/stream.py --out DIR [--weeks 10] [--rows 3000] ...   # writes the CSVs
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

import numpy as np

COLUMNS = ["x0", "x1", "x2", "x3", "x4", "x5", "tenure", "plan", "churned"]
LABEL = "churned"
PLANS = ("basic", "plus", "pro")
# The two concepts: weights of x0..x5, the plans' effects, tenure's slope, the intercept.
BEFORE = {
    "w": [1.2, -0.8, 0.6, 0.3, 0.4, 0.2],
    "plan": {"basic": 0.5, "plus": 0.0, "pro": -0.4},
    "tenure": -0.03,
    "b": -1.55,
}
AFTER = {
    "w": [0.1, -0.8, 0.3, 1.4, 0.4, 0.9],
    "plan": {"basic": -0.2, "plus": 0.2, "pro": 0.5},
    "tenure": -0.01,
    "b": -1.75,
}
# Gradual drift of the weights, per week: towards the later concept (x0 fades, x3 and x5 grow).
STEP = [-0.06, 0.0, 0.0, 0.06, 0.0, 0.03]


@dataclasses.dataclass(frozen=True)
class Season:
    """The stream's shape: `weeks` batches of `rows`, the shift's and the corrupted batch's weeks
    (1-based), the holdout's size and the seed."""

    weeks: int = 10
    rows: int = 3000
    shift: int = 5
    corrupt: int = 8
    holdout: int = 5000
    seed: int = 7

    def __post_init__(self):
        if not 1 < self.shift <= self.weeks or not 1 < self.corrupt <= self.weeks:
            raise ValueError("the shift and the corrupted batch must fall in weeks 2..weeks")
        if self.corrupt == self.shift:
            raise ValueError("the shift and the corrupted batch must be different weeks")

    def kind(self, week: int) -> str:
        """What week `week` holds: drift (the first week: start), shift, or corrupted."""
        if week == self.corrupt:
            return "corrupted"
        if week == self.shift:
            return "shift"
        return "start" if week == 1 else "drift"


def concept(week: int, season: Season) -> dict:
    """The weights of week `week` (gradual steps on top of the concept in force)."""
    base = AFTER if week >= season.shift else BEFORE
    w = [wi + si * (week - 1) for wi, si in zip(base["w"], STEP, strict=True)]
    return {**base, "w": w}


def rows(week: int, n: int, season: Season, rng: np.random.Generator) -> list[list]:
    """`n` rows of week `week` (labels shuffled for the corrupted week)."""
    c = concept(week, season)
    x = rng.normal(0.0, 1.0, size=(n, 6))
    x[:, 0] += 0.05 * (week - 1)
    x[:, 1] += 0.05 * (week - 1)
    tenure = rng.integers(1, 73, size=n)
    share = min(0.6, 0.02 * (week - 1))  # basic's share moving to pro
    plan = rng.choice(PLANS, size=n, p=[0.5 - share / 2, 0.3, 0.2 + share / 2])
    logit = c["b"] + x @ np.array(c["w"]) + c["tenure"] * (tenure - 24)
    logit += np.array([c["plan"][p] for p in plan])
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    if season.kind(week) == "corrupted":
        label = rng.permutation(label)
    return [
        [*(round(float(v), 4) for v in x[i]), int(tenure[i]), str(plan[i]), int(label[i])]
        for i in range(n)
    ]


def batches(season: Season) -> tuple[dict[int, list[list]], list[list]]:
    """({week: its batch}, the holdout)."""
    rng = np.random.default_rng(season.seed)
    weekly = {w: rows(w, season.rows, season, rng) for w in range(1, season.weeks + 1)}
    if season.kind(season.weeks) == "corrupted":
        raise ValueError("the last week is the holdout's: it cannot be the corrupted one")
    holdout_rng = np.random.default_rng([season.seed, 1])  # apart from every batch's draws
    return weekly, rows(season.weeks, season.holdout, season, holdout_rng)


def write_csv(path: Path, table: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    for field in dataclasses.fields(Season):
        parser.add_argument(f"--{field.name}", type=int, default=field.default)
    args = parser.parse_args(argv)
    try:
        season = Season(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Season)})
    except ValueError as e:
        parser.error(str(e))
    weekly, holdout = batches(season)
    for week, table in weekly.items():
        write_csv(args.out / f"week_{week:02d}.csv", table)
        share = sum(r[-1] for r in table) / len(table)
        print(f"week {week:2d} ({season.kind(week)}): {len(table)} rows, {share:.1%} positive")
    write_csv(args.out / "holdout.csv", holdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
