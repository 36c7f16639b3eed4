"""Search strategies, by name. Each is a KerasTuner Oracle with `SearchControl` in front."""

from __future__ import annotations

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

STRATEGIES = {
    "grid": GridOracle,
    "random": RandomOracle,
    "bayesian": BayesianOracle,
    "hyperband": HyperbandWithLimitOracle,
    "evolution": EvolutionOracle,
    "reinforce": ReinforceOracle,
}
# Strategies whose proposals can be drawn repeatedly, so a surrogate can rank a pool of them.
SURROGATE_OK = ("random", "bayesian", "evolution", "reinforce")


def make_oracle(
    strategy: str,
    space,
    *,
    objective,
    max_trials: int,
    seed: int,
    epochs: int = 10,
    patience: int = 0,
    time_budget_s: float = 0.0,
    compute_budget: int = 0,
    constraint=None,
    surrogate: bool = False,
    options: dict | None = None,
):
    """An oracle for `strategy` over `space`. `options` go to the strategy's constructor
    (e.g. population_size for evolution, factor for hyperband, num_initial_points for
    bayesian)."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown search strategy {strategy!r}; choose one of {sorted(STRATEGIES)}"
        )
    if surrogate and strategy not in SURROGATE_OK:
        raise ValueError(
            f"the surrogate filter cannot sit in front of {strategy!r}: its proposals have side "
            f"effects; use it with one of {list(SURROGATE_OK)}"
        )
    cls = STRATEGIES[strategy]
    if surrogate:
        cls = type(f"Surrogate{cls.__name__}", (SurrogateFilter, cls), {})
    kwargs = dict(
        objective=objective,
        hyperparameters=space.hyperparameters(),
        seed=seed,
        max_consecutive_failed_trials=3,
        **dict(options or {}),
    )
    if strategy == "hyperband":
        kwargs.setdefault("max_epochs", epochs)
        kwargs.setdefault("factor", 3)
    elif strategy == "bayesian":
        kwargs.setdefault("num_initial_points", 5)
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
