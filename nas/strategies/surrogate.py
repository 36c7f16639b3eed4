"""A surrogate predictor in front of any strategy (PNAS, Liu et al., 2018): once enough trials
have finished, the wrapped strategy proposes a pool of candidates, a ridge regressor on
architecture features (one-hot active choices) ranks them, and only the top k are trained,
best first. The queue of ranked candidates is part of the oracle state."""

from __future__ import annotations

import numpy as np

from nas.encoding import Architecture
from nas.kt_private import TrialStatus

RUNNING = TrialStatus.RUNNING


def features(space, arch: Architecture) -> np.ndarray:
    active = set(space.active(arch))
    parts = []
    for c in space.choices():
        onehot = np.zeros(len(c.values))
        if c.name in active:
            onehot[c.index(arch.choices[c.name])] = 1.0
        parts.append(onehot)
    return np.concatenate(parts)


class Ridge:
    """Ridge regression with an unpenalised intercept, in numpy."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, x: np.ndarray, y: np.ndarray):
        self.mean = y.mean()
        xb = np.hstack([x, np.ones((len(x), 1))])
        reg = self.alpha * np.eye(xb.shape[1])
        reg[-1, -1] = 0.0
        self.w = np.linalg.solve(xb.T @ xb + reg, xb.T @ (y - self.mean))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))]) @ self.w + self.mean


class SurrogateFilter:
    """Mixin: put it before the strategy's oracle class."""

    pool_size = 32
    top_k = 4
    min_history = 5

    def _history(self):
        done = [t for t in self._finished() if t.score is not None]
        sign = 1 if self.objective.direction == "max" else -1
        x = [features(self.space, self.space.architecture(t.hyperparameters.values)) for t in done]
        return np.array(x), np.array([sign * t.score for t in done])

    def propose(self, trial_id, attempt):
        queue = getattr(self, "surrogate_queue", [])
        while queue:
            values = queue.pop(0)
            if not self._duplicate(values):
                self.surrogate_queue = queue
                return {"status": RUNNING, "values": values}
        x, y = self._history()
        if len(y) < self.min_history:
            return super().propose(trial_id, attempt)
        pool, seen = [], set()
        for k in range(self.pool_size):
            response = super().propose(trial_id, attempt * self.pool_size + k + 1)
            if response["status"] != RUNNING:
                continue
            arch = Architecture.from_values(self.space.name, response["values"])
            if arch.digest() in seen or self.violates(response["values"]):
                continue
            seen.add(arch.digest())
            pool.append((response["values"], features(self.space, arch)))
        if not pool:
            return super().propose(trial_id, attempt)
        model = Ridge().fit(x, y)
        scores = model.predict(np.array([f for _, f in pool]))
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        ranked = [pool[i][0] for i in order]
        self.surrogate_queue = ranked[1:]
        return {"status": RUNNING, "values": ranked[0]}

    def get_state(self):
        state = super().get_state()
        state["surrogate_queue"] = list(getattr(self, "surrogate_queue", []))
        return state

    def set_state(self, state):
        super().set_state(state)
        self.surrogate_queue = list(state.get("surrogate_queue", []))
