"""What every strategy shares, as a mixin in front of a KerasTuner Oracle:

- search-level stopping: after `patience` finished trials without improvement, after
  `max_trials` (Hyperband included), once `time_budget_s` is spent, or once the trial runner
  has trained `compute_budget` example-epochs, whichever comes first;
- a constraint filter (e.g. a parameter limit) that redraws candidates before any training;
- deterministic randomness: `rng(trial_id, attempt)` depends only on the seed and its arguments,
  so a resumed search proposes what an uninterrupted one would have.

State that must survive a crash goes through `get_state`/`set_state`, like KerasTuner's own.
"""

from __future__ import annotations

import random
import time

from nas.encoding import META_PREFIXES, Architecture
from nas.kt_private import TrialStatus
from nas.spaces.base import SPACE_KEY

PRUNED = "pruned"  # prefix of the message of a trial pruned before training
STOPPED = {"status": TrialStatus.STOPPED, "values": None}


class SearchControl:
    """Mixin: put it first in the bases, before the Oracle class."""

    # Whether populate_space() may be called again for the same trial without side effects.
    redraw_ok = True
    # Whether seeded candidates (a warm start's champion and earlier leaders) may come first.
    # Strategies whose bookkeeping follows each proposal they make (the grid's order,
    # Hyperband's brackets) say no and search as usual.
    seeds_ok = True
    max_draws = 50

    @classmethod
    def defaults(cls, *, epochs: int, morphism: bool = False) -> dict:
        """Constructor options this strategy derives from the search: its epochs per trial at
        search fidelity and whether network morphism is on. Options given by the caller
        (`strategy_options`) override them."""
        return {}

    def setup_control(
        self,
        space,
        *,
        patience: int = 0,
        time_budget_s: float = 0.0,
        compute_budget: int = 0,
        constraint=None,
    ):
        self.space = space
        self.patience = patience
        self.time_budget_s = time_budget_s
        self.compute_budget = compute_budget
        self.compute_spent = 0  # set by the trial runner from its leaderboard
        # Seconds of the time budget kept for the re-evaluation after the search: the trial
        # runner sets it from its leaderboard (nas/estimation/reevaluate.py).
        self.reserve_s = 0.0
        # Seconds the least trial takes (built, one epoch's set-up and validation pass): the
        # search starts none with less left. The trial runner sets it from measured costs.
        self.min_trial_s = 0.0
        self.constraint = constraint  # Architecture -> None (ok) or a reason string
        self.started_at = None
        self.stop_reason = ""
        self.pruned_draws = 0
        # Candidates proposed before the strategy's own: dicts of choices plus "nas/" keys.
        # Not saved with the state: the caller passes the same seeds to a resumed search.
        self.seeds: list[dict] = []

    def rng(self, trial_id: str, attempt: int = 0) -> random.Random:
        return random.Random(f"{self.seed}:{trial_id}:{attempt}")

    # ---- stopping -------------------------------------------------------------------------
    def _finished(self) -> list:
        return [
            self.trials[t] for t in self.end_order if self.trials[t].status == TrialStatus.COMPLETED
        ]

    def check_stop(self) -> str:
        if self.started_at is None:
            self.started_at = time.time()
        if self.max_trials and len(self.trials) >= self.max_trials:
            return f"max trials ({self.max_trials}) reached"
        left = self.time_left()
        if left is not None and left < max(0.0, self.min_trial_s):
            kept = f", {self.reserve_s:.0f} s of it kept for the re-evaluation"
            spent = f"time budget ({self.time_budget_s:.0f} s) spent"
            if left >= 0:
                spent += f" ({left:.0f} s left, less than a trial takes)"
            return spent + (kept if self.reserve_s else "")
        if self.compute_budget and self.compute_spent >= self.compute_budget:
            return f"compute budget ({self.compute_budget:,} example-epochs) spent"
        if self.patience:
            done = self._finished()
            sign = 1 if self.objective.direction == "max" else -1
            best_at, best = -1, None
            for i, t in enumerate(done):
                if t.score is not None and (best is None or sign * t.score > sign * best):
                    best_at, best = i, t.score
            if best_at >= 0 and len(done) - 1 - best_at >= self.patience:
                return f"{self.patience} trials without improvement"
        return ""

    def time_left(self) -> float | None:
        if not self.time_budget_s or self.started_at is None:
            return None
        return self.time_budget_s - self.reserve_s - (time.time() - self.started_at)

    def compute_left(self) -> float | None:
        if not self.compute_budget:
            return None
        return self.compute_budget - self.compute_spent

    def populate_space(self, trial_id):
        reason = self.check_stop()
        if reason:
            if not self.stop_reason:
                print(f"NAS search stops: {reason}", flush=True)
            self.stop_reason = reason
            return STOPPED
        n = len(self.trials)  # trials created before this one (its id is its position)
        if self.seeds_ok and n < len(self.seeds):
            return {"status": TrialStatus.RUNNING, "values": dict(self.seeds[n])}
        first = self.space.first() if self.seeds_ok and n == len(self.seeds) else None
        if first is not None and self.unique(first) and not self.violates(first.choices):
            return {"status": TrialStatus.RUNNING, "values": {**first.choices, "nas/seed": "first"}}
        response = None
        for attempt in range(self.max_draws if self.redraw_ok else 1):
            response = self.propose(trial_id, attempt)
            if response["status"] != TrialStatus.RUNNING:
                return response
            why = self.violates(response["values"])
            if not why:
                return response
            self.pruned_draws += 1
        # Every draw broke the constraint: the tuner records this one as pruned, untrained.
        response["values"]["nas/pruned"] = why
        return response

    def propose(self, trial_id: str, attempt: int) -> dict:
        """The strategy's own proposal. Defaults to the KerasTuner oracle's."""
        return super().populate_space(trial_id)

    def draw(self, trial_id: str, attempt: int) -> dict:
        """A random proposal not tried before, drawn by the space's priors."""
        rng = self.rng(trial_id, attempt)
        for _ in range(100):
            arch = self.space.sample(rng)
            if self.unique(arch):
                break
        return {"status": TrialStatus.RUNNING, "values": {**arch.choices, SPACE_KEY: arch.space}}

    def violates(self, values: dict) -> str:
        if self.constraint is None:
            return ""
        arch = Architecture.from_values(self.space.name, values)
        return self.constraint(arch) or ""

    def _compute_values_hash(self, values):
        # Trial bookkeeping (parents, Hyperband rounds) is not part of the candidate.
        return super()._compute_values_hash(
            {k: v for k, v in values.items() if not k.startswith(META_PREFIXES)}
        )

    def _check_consecutive_failures(self):
        # Pruned trials are the constraint doing its job, not failures.
        saved = self.end_order
        self.end_order = [t for t in saved if not (self.trials[t].message or "").startswith(PRUNED)]
        try:
            super()._check_consecutive_failures()
        finally:
            self.end_order = saved

    def learn(self, trial) -> None:
        """Update the strategy from a finished trial (evolution, the controller)."""

    def end_trial(self, trial):
        super().end_trial(trial)
        self.learn(self.trials[trial.trial_id])
        # KerasTuner saves before it drops the trial from the ongoing ones, so a reload right
        # now would queue this finished trial for a retry. Save again without it.
        self.save()

    def reload(self):
        super().reload()
        # Trials come back in file-listing order; restore the order they started in, which
        # strategies that iterate over trials (Bayesian's GP fit) depend on.
        order = {t: i for i, t in enumerate(self.start_order)}
        self.trials = dict(
            sorted(self.trials.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        )

    def get_state(self):
        state = super().get_state()
        state["control"] = {
            "started_at": self.started_at,
            "stop_reason": self.stop_reason,
            "pruned_draws": self.pruned_draws,
        }
        return state

    def set_state(self, state):
        super().set_state(state)
        control = state.get("control", {})
        self.started_at = control.get("started_at")
        self.stop_reason = control.get("stop_reason", "")
        self.pruned_draws = control.get("pruned_draws", 0)

    def best_score(self):
        """Best score among finished trials (None before the first)."""
        scores = [t.score for t in self._finished() if t.score is not None]
        if not scores:
            return None
        return max(scores) if self.objective.direction == "max" else min(scores)

    def unique(self, arch: Architecture) -> bool:
        return not self._duplicate(arch.choices)
