"""Learning-curve extrapolation (after Domhan et al., 2015), kept small and numpy-only.

Each of a few saturating models y(t) = a - b * t^(-c), c in C_GRID, and the unbounded
y(t) = a + b * log(t) is fitted to the
validation history by linear least squares in (a, b). The prediction at the final epoch gets a
one-sided upper bound at `confidence` (Student's t), from the residual spread and the
regression's own uncertainty. The bound is the largest among the models that fit about as
well as the best one (within a noise allowance).
A trial stops when that bound, and the best value it has already reached, are both below the
best finished trial: with the stated confidence it cannot beat it.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from nas.estimation.stopper import EpochStopper

C_GRID = (0.25, 0.5, 1.0, 2.0)
MIN_SIGMA = 0.005  # floor on the residual spread: metrics are noisy even when curves look clean


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, a Cornish-Fisher expansion
    above (within 0.3% of scipy.stats.t.ppf for p <= 0.95, 2% at 0.99; tests/nas/test_curve_t.py).

    Not scipy's `t.ppf`: the engine imports only the standard library, Keras, KerasTuner and
    numpy (tests/nas/test_engine_imports.py), and scipy is not a dependency of KerasTuner
    itself, only of its optional `bayesian` extra."""
    if dof == 1:  # Cauchy
        return math.tan(math.pi * (p - 0.5))
    if dof == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = statistics.NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def upper_bound(values: list[float], horizon: int, confidence: float = 0.95) -> float:
    """Upper confidence bound of the value at epoch `horizon` (1-based) for a maximised
    metric whose history is `values` (epochs 1..n)."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    t = np.arange(1, n + 1, dtype=float)
    # Student's t with n - 2 degrees of freedom: wide bands from few epochs, narrowing later.
    z = t_quantile(confidence, max(n - 2, 1))
    fits = []
    for c in C_GRID:
        phi = np.stack([np.ones(n), -(t**-c)], axis=1)
        coef, *_ = np.linalg.lstsq(phi, y, rcond=None)
        resid = y - phi @ coef
        rss = float(resid @ resid)
        sigma = max(np.sqrt(rss / max(n - 2, 1)), MIN_SIGMA)
        x = np.array([1.0, -(horizon**-c)])
        cov = np.linalg.pinv(phi.T @ phi)
        spread = sigma * np.sqrt(1 + x @ cov @ x)
        fits.append((rss, float(x @ coef + z * spread)))
    # Models within a noise allowance of the best fit all count: a few epochs cannot tell them
    # apart, and the most optimistic of them decides.
    best_rss = min(r for r, _ in fits)
    allowance = 2 * best_rss + n * (2 * MIN_SIGMA) ** 2
    return max(bound for rss, bound in fits if rss <= allowance)


def cannot_beat(values, target: float, horizon: int, confidence: float, maximize=True) -> bool:
    if not maximize:
        values, target = [-v for v in values], -target
    if max(values) >= target:
        return False
    return upper_bound(values, horizon, confidence) < target


class CurveStopper(EpochStopper):
    """Stops training when the extrapolated curve cannot beat `target` at `horizon` epochs."""

    def __init__(
        self,
        monitor: str,
        target: float | None,
        horizon: int,
        *,
        maximize: bool = True,
        confidence: float = 0.95,
        min_epochs: int = 4,
        history: list[float] | None = None,
    ):
        super().__init__(monitor, history)
        self.target, self.horizon = target, horizon
        self.maximize, self.confidence, self.min_epochs = maximize, confidence, min_epochs

    def should_stop(self) -> bool:
        if self.target is None or len(self.values) < self.min_epochs:
            return False
        if len(self.values) >= self.horizon:
            return False
        return cannot_beat(self.values, self.target, self.horizon, self.confidence, self.maximize)


def target(runner):
    """The score the learning-curve stop must see a trial of `runner` (a nas.runner.TrialRunner)
    beat, or None while it waits: until `curve_min_trials` trials have trained all their
    epochs, or `curve_wait_share` of the search's budget (time, compute or trials, whichever
    is furthest) is spent."""
    cfg, oracle = runner.config, runner.oracle
    full, rows = runner.space.fidelity.epochs_for(cfg.epochs), runner.rows()
    if getattr(runner, "plan", None) is not None:  # the time budget's plan trains fewer
        full = min(full, runner.plan.epochs)
    done = [r for r in rows if r["status"] == "completed" and r["epochs"] >= full]
    # A parallel search's worker sees neither budget (the chief keeps them): trials decide.
    worker = runner.is_worker
    max_trials = 0 if worker else oracle.max_trials
    shares = [len(rows) / max_trials if max_trials else 0.0]
    left = oracle.time_left()
    if left is not None:
        shares.append(1 - left / oracle.time_budget_s)
    if not worker and oracle.compute_budget:
        shares.append(oracle.compute_spent / oracle.compute_budget)
    if len(done) >= cfg.curve_min_trials or max(shares) >= cfg.curve_wait_share:
        return oracle.best_score()
    return None
