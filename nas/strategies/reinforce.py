"""REINFORCE with an RNN controller: the controller emits one token per choice of the space; a
finished trial's score is the reward for the tokens that made it."""

from __future__ import annotations

import zlib

import numpy as np

from nas.encoding import Architecture
from nas.kt_private import Oracle, TrialStatus
from nas.strategies.base import SearchControl
from nas.strategies.controller import Controller

RUNNING = TrialStatus.RUNNING


class ReinforceOracle(SearchControl, Oracle):
    """REINFORCE: an RNN controller samples one token per choice and learns from each finished
    trial's score; its weights are saved with the oracle's state."""

    def __init__(
        self,
        *args,
        hidden: int = 32,
        controller_lr: float = 0.05,
        entropy_weight: float = 1e-3,
        baseline_decay: float = 0.9,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._controller_args = dict(
            hidden=hidden,
            lr=controller_lr,
            entropy_weight=entropy_weight,
            baseline_decay=baseline_decay,
        )
        self._controller = None
        self._pending_state = None
        self.updates: list[str] = []  # trial ids already learned from

    @property
    def controller(self) -> Controller:
        if self._controller is None:  # the space is set after Oracle.__init__
            self._controller = Controller(
                [len(c.values) for c in self.space.choices()],
                seed=self.seed,
                **self._controller_args,
            )
            if self._pending_state:
                self._controller.set_state(self._pending_state)
        return self._controller

    def tokens(self, arch: Architecture) -> list[int]:
        return [c.index(arch.choices[c.name]) for c in self.space.choices()]

    def architecture(self, tokens: list[int]) -> Architecture:
        choices = self.space.choices()
        return Architecture(
            self.space.name, {c.name: c.values[t] for c, t in zip(choices, tokens, strict=True)}
        )

    def propose(self, trial_id, attempt):
        rng = np.random.default_rng([self.seed, zlib.crc32(str(trial_id).encode()), attempt])
        arch = None
        for _ in range(100):
            arch = self.architecture(self.controller.sample(rng))
            if self.unique(arch):
                break
        return {"status": RUNNING, "values": dict(arch.choices)}

    def learn(self, done):
        if (
            done.status == TrialStatus.COMPLETED
            and done.score is not None
            and done.trial_id not in self.updates
        ):
            reward = done.score if self.objective.direction == "max" else -done.score
            arch = self.space.architecture(done.hyperparameters.values)
            self.controller.update(self.tokens(arch), float(reward))
            self.updates.append(done.trial_id)

    def get_state(self):
        state = super().get_state()
        state["controller"] = self.controller.get_state() if getattr(self, "space", None) else None
        state["updates"] = list(self.updates)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._pending_state = state.get("controller")
        self._controller = None
        self.updates = list(state.get("updates", []))
