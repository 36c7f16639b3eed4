"""A search's data: what every trial trains and validates on."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class SearchData:
    """Training and validation data: (features dict, labels) numpy pairs, or repeated datasets
    (e.g. tf.data) with `steps_per_epoch` / `validation_steps`."""

    train: object
    validation: object
    steps_per_epoch: int | None = None
    validation_steps: int | None = None

    @property
    def is_arrays(self) -> bool:
        return isinstance(self.train, tuple)

    def examples_per_epoch(self, fraction: float, batch_size: int) -> int:
        """Training examples one epoch sees at data fraction `fraction`."""
        if self.is_arrays:
            return int(math.ceil(len(self.train[1]) * fraction))
        return self.steps(fraction) * batch_size

    def steps_for(self, fraction: float, batch_size: int) -> int:
        """Training steps in one epoch at data fraction `fraction`."""
        if self.is_arrays:
            return int(math.ceil(self.examples_per_epoch(fraction, batch_size) / batch_size))
        return self.steps(fraction)

    def steps(self, fraction: float) -> int:
        return max(1, int(round(self.steps_per_epoch * fraction)))

    def fit_kwargs(self, fraction: float, batch_size: int) -> dict:
        """`model.fit` arguments for the data at fraction `fraction`."""
        if self.is_arrays:
            x, y = self.train
            n = int(math.ceil(len(y) * fraction))
            return dict(
                x={k: v[:n] for k, v in x.items()},
                y=y[:n],
                batch_size=batch_size,
                validation_data=self.validation,
                shuffle=True,
            )
        return dict(
            x=self.train,
            steps_per_epoch=self.steps(fraction),
            validation_data=self.validation,
            validation_steps=self.validation_steps,
        )

    def sample_batch(self, batch_size: int):
        """One batch of validation features (for latency measurement)."""
        if self.is_arrays:
            return {k: v[:batch_size] for k, v in self.validation[0].items()}
        for features, _ in self.validation.take(1):
            return features
        raise ValueError("the validation dataset is empty")
