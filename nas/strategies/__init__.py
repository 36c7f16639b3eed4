"""Search strategies, by name. Each is a KerasTuner Oracle with `SearchControl` in front.

The names are the catalogue `nas.config.STRATEGIES`; the registry below maps exactly those to
their classes (checked at import). Each class derives its own defaults from the search
(`SearchControl.defaults`), so nothing here branches on a strategy's name.
"""

from __future__ import annotations

from nas import config
from nas.strategies.base import PRUNED, SearchControl
from nas.strategies.evolution import EvolutionOracle
from nas.strategies.kt import (
    BayesianOracle,
    GridOracle,
    HyperbandWithLimitOracle,
    RandomOracle,
)
from nas.strategies.reinforce import ReinforceOracle
from nas.strategies.surrogate import SurrogateFilter

_CLASSES = {
    "grid": GridOracle,
    "random": RandomOracle,
    "bayesian": BayesianOracle,
    "hyperband": HyperbandWithLimitOracle,
    "evolution": EvolutionOracle,
    "reinforce": ReinforceOracle,
}
if set(_CLASSES) != set(config.STRATEGIES):
    raise ImportError(
        f"nas.strategies registers {sorted(_CLASSES)} but the catalogue nas.config.STRATEGIES "
        f"declares {sorted(config.STRATEGIES)}"
    )
STRATEGIES = {name: _CLASSES[name] for name in config.STRATEGIES}
# Strategies whose proposals can be drawn repeatedly (no side effects), so a surrogate can rank
# a pool of them.
SURROGATE_OK = tuple(name for name, cls in STRATEGIES.items() if cls.redraw_ok)


def make_oracle(
    strategy: str,
    space,
    *,
    objective,
    max_trials: int,
    seed: int,
    epochs: int = 10,
    morphism: bool = False,
    patience: int = 0,
    time_budget_s: float = 0.0,
    compute_budget: int = 0,
    constraint=None,
    surrogate: bool = False,
    options: dict | None = None,
):
    """An oracle for `strategy` over `space`. The strategy's own defaults come from `epochs`
    (per trial, at search fidelity) and `morphism`; `options` go to its constructor on top
    (e.g. population_size for evolution, factor for hyperband, num_initial_points for
    bayesian)."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown search strategy {strategy!r}; choose one of {sorted(STRATEGIES)}"
        )
    cls = STRATEGIES[strategy]
    if surrogate and not cls.redraw_ok:
        raise ValueError(
            f"the surrogate filter cannot sit in front of {strategy!r}: its proposals have side "
            f"effects; use it with one of {list(SURROGATE_OK)}"
        )
    if surrogate:
        cls = type(f"Surrogate{cls.__name__}", (SurrogateFilter, cls), {})
    kwargs = dict(
        objective=objective,
        hyperparameters=space.hyperparameters(),
        seed=seed,
        max_consecutive_failed_trials=3,
        **{**cls.defaults(epochs=epochs, morphism=morphism), **dict(options or {})},
    )
    kwargs["max_trials"] = max_trials
    oracle = cls(**kwargs)
    oracle.verbose = 0  # the trial runner prints one line per trial instead
    oracle.setup_control(
        space,
        patience=patience,
        time_budget_s=time_budget_s,
        compute_budget=compute_budget,
        constraint=constraint,
    )
    return oracle


__all__ = ["PRUNED", "STRATEGIES", "SURROGATE_OK", "SearchControl", "make_oracle"]
