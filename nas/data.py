"""A search's data, by rows: what every trial trains and is scored on.

An epoch is one pass over the training rows a trial uses (all of them, or the first
`rows` of them at a lower row fidelity): `steps_for` gives its steps, capped by the
operator's optional `steps_cap`. Every trial is scored on the same validation rows, in the
same order (all of them, or a fixed sample: the `validation_sample` knob).

`SearchData` is the interface; `ArrayData` implements it on numpy arrays (tests, benches and
any in-memory table). The pipeline implements it on tf.data over TFRecords
(components/nas_tuner/tfx_io.py), so nothing materialises a split in memory there.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from nas.config import MIN_VALIDATION_SAMPLE


class SearchData:
    """The data of a search, by rows (see the module's docstring). Subclasses set the
    attributes and implement the three methods."""

    train_rows: int = 0  # labelled training rows: an epoch is ONE PASS over them
    validation_rows: int = 0  # rows every trial is scored on (all, or a fixed sample)
    class_counts: tuple | None = None  # training rows per class, in class-index order
    steps_cap: int = 0  # the operator's optional cap on steps per epoch (0: none)

    def train_batches(
        self,
        batch_size: int,
        rows: int | None = None,
        *,
        seed: int = 0,
        epoch: int = 0,
        class_weight: dict | None = None,
    ):
        """Repeated, shuffled batches of (features, label) over the first `rows` training rows
        (None: all): the same subset for the same `rows`. What `model.fit` takes with
        `steps_per_epoch`. A deterministic source starts at the order of epoch `epoch` under
        `seed` (a resumed trial sees the batches an uninterrupted one would); a streaming one
        may only use them to seed its shuffle. With `class_weight` ({class index: weight},
        nas/task.py `class_weights`), batches are (features, label, weight of each row's
        class): the weights reach every backend and data source the same way."""
        raise NotImplementedError

    def validation_batches(self, batch_size: int):
        """One pass over the validation rows: the same rows in the same order on every call.
        What `model.fit(validation_data=...)` and `model.evaluate` take."""
        raise NotImplementedError

    def sample_batch(self, batch_size: int):
        """One batch of validation features (for latency measurement)."""
        raise NotImplementedError

    # ---- derived: one rule for every implementation ------------------------------------
    def rows_for(self, fraction: float) -> int:
        """Training rows a trial at row fraction `fraction` uses (at least one)."""
        return max(1, min(self.train_rows, int(math.ceil(self.train_rows * fraction))))

    def steps_for(self, rows: int, batch_size: int) -> int:
        """Steps of one epoch over `rows` rows: one pass, capped by `steps_cap`."""
        steps = max(1, int(math.ceil(rows / batch_size)))
        return min(steps, self.steps_cap) if self.steps_cap else steps

    def describe(self) -> str:
        cap = f", at most {self.steps_cap} steps an epoch" if self.steps_cap else ""
        return f"{self.train_rows:,} training rows, {self.validation_rows:,} validation rows{cap}"


def _take(x: dict, idx) -> dict:
    return {k: v[idx] for k, v in x.items()}


class _TrainBatches(keras.utils.PyDataset):
    """Endless shuffled batches over the rows `subset`: batch i is in pass i // per_pass,
    whose order is a permutation fixed by (seed, epoch + pass)."""

    def __init__(self, x, y, subset, batch_size: int, seed: int, epoch: int, class_weight):
        super().__init__()
        self.x, self.y, self.subset, self.batch = x, y, subset, batch_size
        self.weights = None
        if class_weight:
            self.weights = np.zeros(int(max(class_weight)) + 1, "float32")
            for k, w in class_weight.items():
                self.weights[int(k)] = w
        self.rows = len(subset)
        self.seed, self.epoch = seed, epoch
        self.per_pass = int(math.ceil(self.rows / batch_size))
        self._order = (None, None)

    @property
    def num_batches(self):
        return None  # endless: `fit` takes steps_per_epoch of them

    def order(self, p: int) -> np.ndarray:
        if self._order[0] != p:
            rng = np.random.default_rng([self.seed, self.epoch + p])
            self._order = (p, rng.permutation(self.rows))
        return self._order[1]

    def __getitem__(self, i):
        p, b = divmod(int(i), self.per_pass)
        idx = np.sort(self.subset[self.order(p)[b * self.batch : (b + 1) * self.batch]])
        if self.weights is None:
            return _take(self.x, idx), self.y[idx]
        return _take(self.x, idx), self.y[idx], self.weights[self.y[idx].reshape(-1)]


class _OnePass(keras.utils.PyDataset):
    """The validation rows in order, in batches: one pass."""

    def __init__(self, x, y, batch_size: int):
        super().__init__()
        self.x, self.y, self.batch = x, y, batch_size

    def __len__(self):
        return int(math.ceil(len(self.y) / self.batch))

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return _take(self.x, s), self.y[s]


class ArrayData(SearchData):
    """A search's data as numpy (features dict, labels) pairs. The "first `rows` rows" of a
    row subset are the first of a permutation fixed by `sample_seed`, so a subset is a random
    sample even when the arrays are sorted. `validation_sample` > 0 scores every trial on that
    many validation rows, a sample fixed by `sample_seed` (kept in their order); `steps_cap`
    caps an epoch's steps."""

    def __init__(
        self,
        train: tuple,
        validation: tuple,
        *,
        validation_sample: int = 0,
        steps_cap: int = 0,
        sample_seed: int = 0,
    ):
        (self.x, self.y), (vx, vy) = train, validation
        if not len(self.y) or not len(vy):
            raise ValueError(
                f"a search needs training and validation rows; got {len(self.y)} and {len(vy)}"
            )
        if 0 < validation_sample < len(vy):
            rng = np.random.default_rng(sample_seed)
            keep = np.sort(rng.permutation(len(vy))[:validation_sample])
            vx, vy = _take(vx, keep), vy[keep]
        self.vx, self.vy = vx, vy
        self.subsets = np.random.default_rng(sample_seed).permutation(len(self.y))
        self.train_rows, self.validation_rows = len(self.y), len(vy)
        self.steps_cap = steps_cap
        self.class_counts = None
        if np.issubdtype(self.y.dtype, np.integer):
            self.class_counts = tuple(int(c) for c in np.bincount(self.y.reshape(-1)))

    def train_batches(self, batch_size, rows=None, *, seed=0, epoch=0, class_weight=None):
        rows = self.train_rows if rows is None else max(1, min(rows, self.train_rows))
        subset = self.subsets[:rows] if rows < self.train_rows else np.arange(rows)
        return _TrainBatches(self.x, self.y, subset, batch_size, seed, epoch, class_weight)

    def validation_batches(self, batch_size: int):
        return _OnePass(self.vx, self.vy, batch_size)

    def sample_batch(self, batch_size: int):
        return _take(self.vx, slice(0, batch_size))

    @property
    def validation(self) -> tuple:
        """The scored validation rows as (features, labels) arrays."""
        return self.vx, self.vy


__all__ = ["MIN_VALIDATION_SAMPLE", "ArrayData", "SearchData"]
