"""KerasTuner's own strategies (grid, random, Bayesian optimisation, Hyperband) behind the same
stopping and constraint controls as ours. Hyperband gets the `max_trials` it lacks."""

from __future__ import annotations

import numpy as np
from keras_tuner.src.tuners.bayesian import BayesianOptimizationOracle
from keras_tuner.src.tuners.gridsearch import GridSearchOracle, LinkedList
from keras_tuner.src.tuners.hyperband import HyperbandOracle
from keras_tuner.src.tuners.randomsearch import RandomSearchOracle

from components.nas.strategies.base import SearchControl


class RandomOracle(SearchControl, RandomSearchOracle):
    pass


class GridOracle(SearchControl, GridSearchOracle):
    """KerasTuner's grid keeps its position (an ordered list of tried points and a queue) out
    of its saved state, so a reloaded grid search stops at once; both are saved here."""

    # The grid's next point only moves once a trial is created: redrawing repeats it.
    redraw_ok = False

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
    """KerasTuner's state leaves out the random generator that seeds the acquisition
    optimiser, so a reloaded search would propose differently; it is saved here."""

    def get_state(self):
        state = super().get_state()
        name, keys, pos, has_gauss, cached = self._random_state.get_state()
        state["random_state"] = [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]
        return state

    def set_state(self, state):
        super().set_state(state)
        if "random_state" in state:
            name, keys, pos, has_gauss, cached = state["random_state"]
            self._random_state.set_state(
                (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
            )


class HyperbandWithLimitOracle(SearchControl, HyperbandOracle):
    # Each call files the candidate into a bracket.
    redraw_ok = False

    def __init__(self, *args, max_trials=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_trials = max_trials
