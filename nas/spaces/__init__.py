"""Search spaces, by name: the catalogue `nas.config.SPACES`, each mapped to its class (the
registry covers exactly the catalogue, checked at import)."""

from __future__ import annotations

from nas import config
from nas.spaces.base import (
    BATCH_SIZE,
    DEFAULT_BATCH_SIZE,
    SPACE_KEY,
    SearchSpace,
    batch_size_of,
    batch_sizes,
)
from nas.spaces.cells import CellSpace
from nas.spaces.chain import ChainSpace
from nas.spaces.graph import GraphSpace
from nas.spaces.stages import StagesSpace

_CLASSES = {s.name: s for s in (ChainSpace, GraphSpace, CellSpace, StagesSpace)}
if set(_CLASSES) != set(config.SPACES):
    raise ImportError(
        f"nas.spaces registers {sorted(_CLASSES)} but the catalogue nas.config.SPACES declares "
        f"{sorted(config.SPACES)}"
    )
SPACES: dict[str, type[SearchSpace]] = {name: _CLASSES[name] for name in config.SPACES}


def get_space(name: str, input_spec, **kwargs) -> SearchSpace:
    """The space `name` over `input_spec` (kwargs: `fidelity`, `seed`, and `rows` / `batch_size`
    for the batch sizes it offers); `auto` resolves by the features (`SearchConfig.resolved`)."""
    if name == config.AUTO:
        name = config.SearchConfig(space=name).resolved(input_spec).space
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
    return SPACES[name](input_spec, **kwargs)


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_BATCH_SIZE",
    "SPACES",
    "SPACE_KEY",
    "SearchSpace",
    "batch_size_of",
    "batch_sizes",
    "get_space",
]
