"""Search spaces, by name."""

from __future__ import annotations

from nas.spaces.base import SPACE_KEY, SearchSpace
from nas.spaces.cells import CellSpace
from nas.spaces.chain import ChainSpace
from nas.spaces.graph import GraphSpace

SPACES: dict[str, type[SearchSpace]] = {s.name: s for s in (ChainSpace, GraphSpace, CellSpace)}


def get_space(name: str, input_spec, **kwargs) -> SearchSpace:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
    return SPACES[name](input_spec, **kwargs)


__all__ = ["SPACES", "SPACE_KEY", "SearchSpace", "get_space"]
