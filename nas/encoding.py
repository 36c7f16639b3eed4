"""The architecture encoding: the single source of truth for a candidate.

A space declares an ordered list of categorical `Choice`s. An `Architecture` is the space's name
plus one value per choice. Every choice always has a value (a genotype): choices that the current
depth makes inactive keep theirs, so a mutation changes exactly one entry and a sequence of tokens
(the controller's) maps one-to-one onto an architecture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

# Keys in KerasTuner hyperparameter values that describe a trial, not the architecture.
META_PREFIXES = ("nas/", "tuner/")


@dataclasses.dataclass(frozen=True)
class Choice:
    """One categorical decision. `values` are all of one type (int, float, str or bool).
    `prior` (optional, one weight per value) is how often a random draw picks each value;
    without it, draws are uniform. Mutation and the grid ignore it."""

    name: str
    values: tuple
    prior: tuple = ()

    def __post_init__(self):
        if self.prior and (
            len(self.prior) != len(self.values) or min(self.prior) < 0 or not sum(self.prior)
        ):
            raise ValueError(f"choice {self.name!r}: prior {self.prior} does not fit {self.values}")
        if not self.values:
            raise ValueError(f"choice {self.name!r} has no values")
        if len({type(v) for v in self.values}) != 1:
            raise ValueError(f"choice {self.name!r} mixes value types: {self.values}")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"choice {self.name!r} repeats a value: {self.values}")

    def index(self, value) -> int:
        return self.values.index(value)

    def draw(self, rng):
        """A value drawn by the prior (uniformly without one)."""
        if not self.prior:
            return rng.choice(self.values)
        return rng.choices(self.values, weights=self.prior)[0]


class EncodingError(ValueError):
    """An architecture that does not fit its space."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A candidate: its space's name and one value per choice of that space (the genotype).
    Serialised as JSON; `digest()` names it."""

    space: str
    choices: dict

    def to_json(self) -> str:
        return json.dumps({"space": self.space, "choices": self.choices}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        raw = json.loads(text)
        if not isinstance(raw, dict) or set(raw) != {"space", "choices"}:
            raise EncodingError(f"an architecture is {{'space', 'choices'}}, got {text[:200]!r}")
        return cls(raw["space"], dict(raw["choices"]))

    @classmethod
    def from_values(cls, space: str, values: dict) -> Architecture:
        """From KerasTuner hyperparameter values: trial bookkeeping keys are dropped."""
        return cls(space, {k: v for k, v in values.items() if not k.startswith(META_PREFIXES)})

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def diff(self, other: Architecture) -> list[str]:
        """Names of the choices whose values differ."""
        keys = set(self.choices) | set(other.choices)
        return sorted(k for k in keys if self.choices.get(k) != other.choices.get(k))


def validate(choices: list[Choice], arch: Architecture, space_name: str) -> None:
    """Raise EncodingError unless `arch` has exactly one valid value for every choice."""
    if arch.space != space_name:
        raise EncodingError(f"architecture is for space {arch.space!r}, not {space_name!r}")
    names = {c.name for c in choices}
    missing = sorted(names - set(arch.choices))
    extra = sorted(set(arch.choices) - names)
    if missing or extra:
        raise EncodingError(f"architecture for {space_name!r}: missing {missing}, unknown {extra}")
    for c in choices:
        value = arch.choices[c.name]
        # JSON turns tuples into lists and may turn 1.0 into 1; compare by value.
        if value not in c.values:
            raise EncodingError(f"choice {c.name!r} = {value!r} is not one of {list(c.values)}")
