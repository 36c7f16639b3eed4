"""Lower fidelity during search. The Trainer retrains the winner at full fidelity."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Fidelity:
    data_fraction: float = 1.0  # share of the training data seen per epoch
    epochs: int = 0  # 0: the search's full epoch count
    width: float = 1.0  # multiplier on every layer's width / filters
    fewer_cells: int = 0  # cells removed from a cell-based network (at least one stays)
    resolution: float = 1.0  # image/signal inputs average-pooled down to this share

    def __post_init__(self):
        checks = {
            "data_fraction": 0 < self.data_fraction <= 1,
            "epochs": self.epochs >= 0,
            "width": 0 < self.width <= 1,
            "fewer_cells": self.fewer_cells >= 0,
            "resolution": 0 < self.resolution <= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"fidelity out of range: {', '.join(f'{k}={getattr(self, k)}' for k in bad)}"
            )

    @property
    def is_full(self) -> bool:
        return self == Fidelity()

    def scale(self, width: int) -> int:
        return max(1, int(round(width * self.width)))

    def epochs_for(self, full_epochs: int) -> int:
        return min(self.epochs, full_epochs) if self.epochs else full_epochs

    def label(self) -> str:
        if self.is_full:
            return "full"
        parts = {
            "data": self.data_fraction,
            "epochs": self.epochs,
            "width": self.width,
            "cells": -self.fewer_cells,
            "res": self.resolution,
        }
        default = dataclasses.asdict(Fidelity())
        keys = ("data_fraction", "epochs", "width", "fewer_cells", "resolution")
        return " ".join(
            f"{short}={value}"
            for (short, value), key in zip(parts.items(), keys, strict=True)
            if getattr(self, key) != default[key]
        )

    @classmethod
    def from_dict(cls, raw: dict | None) -> Fidelity:
        raw = dict(raw or {})
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fidelity settings {sorted(unknown)}")
        return cls(**raw)


FULL = Fidelity()
