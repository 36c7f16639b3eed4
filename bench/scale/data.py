"""Generated tables whose labels come from a random teacher network, so more rows keep helping:
the label is a fixed, smooth but nonlinear function of the columns (a random two-layer tanh
network) plus noise. The teacher is fixed by `teacher_seed`; rows by `seed`, so fresh test rows
come from the same teacher with another seed.

    write_csv(folder, rows, seed, classes=3)            # a multi-class table (bench/scale)
    write_csv(folder, rows, seed, positive_share=0.04)  # rare positives (tests, bench/rare)

numpy and the standard library only: the tests of both environments import it.
"""

from __future__ import annotations

import csv
import os

import numpy as np

NUMERIC = 10
CATEGORIES = ("north", "south", "east", "west")


class Teacher:
    """A random two-layer tanh network over the numeric columns and one categorical column."""

    def __init__(self, outputs: int, teacher_seed: int = 7, hidden: int = 32):
        rng = np.random.default_rng(teacher_seed)
        width = NUMERIC + len(CATEGORIES)
        self.w1 = rng.normal(scale=1.6 / np.sqrt(width), size=(width, hidden))
        self.b1 = rng.normal(scale=0.5, size=hidden)
        self.w2 = rng.normal(scale=2.5 / np.sqrt(hidden), size=(hidden, outputs))

    def logits(self, x: np.ndarray, region: np.ndarray) -> np.ndarray:
        onehot = np.eye(len(CATEGORIES))[region]
        return np.tanh(np.c_[x, onehot] @ self.w1 + self.b1) @ self.w2


def rows(
    n: int,
    seed: int,
    *,
    classes: int = 3,
    positive_share: float | None = None,
    noise: float = 0.3,
    teacher_seed: int = 7,
):
    """(columns dict, labels): `n` rows; multi-class by the teacher's argmax (with `noise` on
    the logits), or binary with about `positive_share` positives (the teacher's top scores)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, NUMERIC))
    region = rng.integers(0, len(CATEGORIES), n)
    if positive_share is not None:
        teacher = Teacher(1, teacher_seed)
        score = teacher.logits(x, region)[:, 0] + rng.normal(scale=noise, size=n)
        # The cut is the teacher's own quantile (from a fixed reference sample), so every seed
        # and size shares one labelling rule.
        ref = np.random.default_rng(teacher_seed + 1)
        ref_score = teacher.logits(
            ref.normal(size=(20_000, NUMERIC)), ref.integers(0, len(CATEGORIES), 20_000)
        )[:, 0]
        y = (score > np.quantile(ref_score, 1 - positive_share)).astype(int)
    else:
        logits = Teacher(classes, teacher_seed).logits(x, region)
        y = (logits + rng.gumbel(scale=noise, size=logits.shape)).argmax(axis=1)
    columns = {f"x{i}": x[:, i] for i in range(NUMERIC)}
    columns["region"] = np.asarray(CATEGORIES)[region]
    return columns, y


def matrix(columns: dict) -> np.ndarray:
    """The columns as a model's numbers: the numeric ones, then the region one-hot (what the
    scikit-learn references and bench/rare's network train on)."""
    onehot = (np.asarray(columns["region"])[:, None] == np.asarray(CATEGORIES)).astype(float)
    return np.c_[np.stack([columns[f"x{i}"] for i in range(NUMERIC)], 1), onehot]


def write_csv(folder: str, n: int, seed: int, label: str = "label", shards: int = 1, **kw) -> str:
    """`n` rows as CSV files in `folder` (created); returns the folder."""
    columns, y = rows(n, seed, **kw)
    os.makedirs(folder, exist_ok=True)
    names = [*columns, label]
    bounds = np.linspace(0, n, shards + 1).astype(int)
    for k in range(shards):
        with open(os.path.join(folder, f"part-{k:03d}.csv"), "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(names)
            for i in range(bounds[k], bounds[k + 1]):
                out.writerow(
                    [
                        *(
                            f"{columns[c][i]:.5f}" if c != "region" else columns[c][i]
                            for c in columns
                        ),
                        int(y[i]),
                    ]
                )
    return folder
