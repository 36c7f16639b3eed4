"""KerasTuner's own strategies (grid, random, Bayesian optimisation, Hyperband) behind the same
stopping and constraint controls as ours. Hyperband gets the `max_trials` it lacks."""

from __future__ import annotations

import numpy as np

from nas.kt_private import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    LinkedList,
    RandomSearchOracle,
    TrialStatus,
)
from nas.spaces.base import SPACE_KEY
from nas.strategies.base import SearchControl

RUNNING = TrialStatus.RUNNING


class RandomOracle(SearchControl, RandomSearchOracle):
    """Random search: each candidate drawn from the space by its priors (nas.encoding.Choice),
    never one tried before."""

    def propose(self, trial_id, attempt):
        return self.draw(trial_id, attempt)


class GridOracle(SearchControl, GridSearchOracle):
    """KerasTuner's grid keeps its position (an ordered list of tried points and a queue) out
    of its saved state, so a reloaded grid search stops at once; both are saved here."""

    # The grid's next point only moves once a trial is created: redrawing repeats it.
    redraw_ok = False
    seeds_ok = False

    def get_state(self):
        state = super().get_state()
        ids = self._ordered_ids
        state["grid"] = {
            "memory": list(ids._memory),
            "next": [[k, v] for k, v in ids._next_index.items()],
            "last": ids._last_index,
            "populate_next": list(self._populate_next),
        }
        return state

    def set_state(self, state):
        super().set_state(state)
        grid = state.get("grid")
        if grid:
            ids = LinkedList()
            ids._memory = list(grid["memory"])
            ids._data_to_index = {d: i for i, d in enumerate(ids._memory)}
            ids._next_index.update({k: v for k, v in grid["next"]})
            ids._last_index = grid["last"]
            self._ordered_ids = ids
            self._populate_next = list(grid["populate_next"])


class BayesianOracle(SearchControl, BayesianOptimizationOracle):
    """KerasTuner's Bayesian optimisation (its Gaussian process, its vectorisation of trials
    and its upper-confidence-bound acquisition), with three changes for architecture spaces:
    - the acquisition is maximised over discrete candidates (random architectures plus every
      one-choice neighbour of the best three trials) instead of KerasTuner's 50 L-BFGS restarts
      on a continuous relaxation: every candidate is a real architecture, none repeats a tried
      one, and a proposal takes milliseconds rather than about a second;
    - the Gaussian process sees at most `max_history` trials (the best half and the latest
      half), so a proposal costs the same after 50 trials as after 5000;
    - proposals depend only on the seed and the trials, so a reloaded search goes on exactly.
    """

    max_history = 60
    random_candidates = 256

    @classmethod
    def defaults(cls, *, epochs: int, morphism: bool = False) -> dict:
        """Five random trials before the Gaussian process proposes."""
        return {"num_initial_points": 5}

    def _vectorize_trials(self):
        x, y = super()._vectorize_trials()
        if len(y) <= self.max_history:
            return x, y
        half = self.max_history // 2
        keep = set(np.argsort(y, kind="stable")[:half].tolist())  # y is minimised
        for i in range(len(y) - 1, -1, -1):
            if len(keep) >= self.max_history:
                break
            keep.add(i)
        rows = sorted(keep)
        return x[rows], y[rows]

    def _vector(self, values: dict) -> list[float]:
        return [hp.value_to_prob(values[hp.name]) for hp in self._nonfixed_space()]

    def _candidates(self, rng) -> list[dict]:
        cands = [self.space.sample(rng).choices for _ in range(self.random_candidates)]
        for best in self.get_best_trials(3):
            if best.status != "COMPLETED":
                continue
            arch = self.space.architecture(best.hyperparameters.values)
            for name in self.space.active(arch):
                for value in self.space.choice(name).values:
                    if value != arch.choices[name]:
                        cands.append({**arch.choices, name: value})
        unique, seen = [], set()
        for c in cands:
            key = tuple(sorted(c.items()))
            if key not in seen and not self._duplicate(c):
                seen.add(key)
                unique.append(c)
        return unique

    def propose(self, trial_id, attempt):
        done = [t for t in self.trials.values() if t.status == "COMPLETED"]
        n_init = self.num_initial_points or max(3 * len(self.hyperparameters.space), 3)
        if len(done) < n_init:
            return self.draw(trial_id, attempt)
        x, y = self._vectorize_trials()
        self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        cands = self._candidates(self.rng(trial_id, attempt))
        if not cands:
            return self.draw(trial_id, attempt)
        mu, sigma = self.gpr.predict(np.array([self._vector(c) for c in cands]), return_std=True)
        order = np.argsort(mu - self.beta * sigma, kind="stable")  # UCB, minimised
        # The best candidate within the constraint (checked in rank order, so only a few are
        # built to count their parameters); SearchControl prunes if none of the first 50 fits.
        for i in order[:50]:
            if not self.violates(cands[i]):
                return {"status": RUNNING, "values": {**cands[i], SPACE_KEY: self.space.name}}
        return {"status": RUNNING, "values": {**cands[order[0]], SPACE_KEY: self.space.name}}


class HyperbandWithLimitOracle(SearchControl, HyperbandOracle):
    """KerasTuner's Hyperband (brackets of successive halving, promoted trials continue from
    their parent's epochs), with a `max_trials` limit like every other strategy."""

    # Each call files the candidate into a bracket.
    redraw_ok = False
    seeds_ok = False

    @classmethod
    def defaults(cls, *, epochs: int, morphism: bool = False) -> dict:
        """Brackets up to the search's epochs per trial, a third kept at each round."""
        return {"max_epochs": epochs, "factor": 3}

    def __init__(self, *args, max_trials=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_trials = max_trials
