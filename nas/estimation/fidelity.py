"""Lower fidelity during search. The Trainer retrains the winner at full fidelity."""

from __future__ import annotations

import dataclasses

from nas.knobs import knob, problems_of


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """How much cheaper than full training a search trial is (all at 1.0 / 0: full fidelity)."""

    data_fraction: float = knob(
        1.0, "Share of the training data seen per epoch.", exclusive_minimum=0, maximum=1
    )
    epochs: int = knob(0, "Epochs per trial (0: the search's full epoch count).", minimum=0)
    width: float = knob(
        1.0, "Multiplier on every layer's width / filters.", exclusive_minimum=0, maximum=1
    )
    fewer_cells: int = knob(
        0, "Cells removed from a cell-based network (at least one stays).", minimum=0
    )
    resolution: float = knob(
        1.0,
        "Image/signal inputs average-pooled down to this share.",
        exclusive_minimum=0,
        maximum=1,
    )

    def __post_init__(self):
        bad = problems_of(self)
        if bad:
            raise ValueError(f"fidelity out of range: {', '.join(bad)}")

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
