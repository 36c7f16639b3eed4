"""Regularized evolution (Real et al., 2019): a population, tournament selection, a child that
mutates exactly one choice of its parent, optional crossover of two parents, and removal of the
oldest member (aging, the default) or of the worst.

With `morph_rate` > 0 some children come from a function-preserving network morphism of their
parent (`estimation/morph.py`) instead, so the trial runner can start them where it ended.
"""

from __future__ import annotations

from nas.encoding import Architecture
from nas.estimation import morph
from nas.kt_private import Oracle, TrialStatus
from nas.strategies.base import SearchControl

RUNNING = TrialStatus.RUNNING


def mutate(space, parent: Architecture, rng) -> tuple[Architecture, str]:
    """A child that differs from `parent` in exactly one active choice: one its network reads
    (`SearchSpace.active`), so the child is never its parent's network retrained."""
    candidates = [n for n in space.active(parent) if len(space.choice(n).values) > 1]
    name = rng.choice(candidates)
    values = [v for v in space.choice(name).values if v != parent.choices[name]]
    child = dict(parent.choices)
    child[name] = rng.choice(values)
    return Architecture(parent.space, child), name


def crossover(a: Architecture, b: Architecture, rng) -> Architecture:
    """Uniform crossover: each choice from either parent."""
    return Architecture(a.space, {k: rng.choice((v, b.choices[k])) for k, v in a.choices.items()})


class EvolutionOracle(SearchControl, Oracle):
    """Regularized evolution over the space's choices (see the module's docstring); its state
    (the population) is saved with the oracle's, so a resumed search goes on exactly."""

    @classmethod
    def defaults(cls, *, epochs: int, morphism: bool = False) -> dict:
        """With network morphism on, half the children are morphed from their parent."""
        return {"morph_rate": 0.5} if morphism else {}

    def __init__(
        self,
        *args,
        population_size: int = 10,
        sample_size: int = 3,
        crossover_rate: float = 0.0,
        removal: str = "oldest",
        morph_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if removal not in ("oldest", "worst"):
            raise ValueError(f"removal must be 'oldest' or 'worst', got {removal!r}")
        if not 1 <= sample_size <= population_size:
            raise ValueError(
                f"sample_size ({sample_size}) must be between 1 and population_size "
                f"({population_size})"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.crossover_rate = crossover_rate
        self.removal = removal
        self.morph_rate = morph_rate
        self.population: list[str] = []  # trial ids, oldest first

    def _score(self, trial_id: str) -> float:
        score = self.trials[trial_id].score
        return score if self.objective.direction == "max" else -score

    def _tournament(self, rng) -> str:
        sample = rng.sample(self.population, min(self.sample_size, len(self.population)))
        return max(sample, key=self._score)

    def propose(self, trial_id, attempt):
        rng = self.rng(trial_id, attempt)
        if len(self.trials) < self.population_size or not self.population:
            for _ in range(100):
                arch = self.space.sample(rng)
                if self.unique(arch):
                    break
            return {"status": RUNNING, "values": dict(arch.choices)}
        for _ in range(100):
            parent_id = self._tournament(rng)
            parent = self.space.architecture(self.trials[parent_id].hyperparameters.values)
            meta = {"nas/parent": parent_id}
            if self.morph_rate and rng.random() < self.morph_rate:
                grown = morph.morph_child(self.space, parent, rng)
                if grown is not None:
                    child, op = grown
                    meta["nas/morph"] = op
                    meta["nas/mutation"] = op
                    if self.unique(child):
                        return {"status": RUNNING, "values": {**child.choices, **meta}}
                    continue
            if self.crossover_rate and rng.random() < self.crossover_rate:
                other_id = self._tournament(rng)
                other = self.space.architecture(self.trials[other_id].hyperparameters.values)
                parent = crossover(parent, other, rng)
                meta["nas/parent2"] = other_id
            child, changed = mutate(self.space, parent, rng)
            meta["nas/mutation"] = changed
            if self.unique(child):
                return {"status": RUNNING, "values": {**child.choices, **meta}}
        return {"status": RUNNING, "values": {**child.choices, **meta}}

    def learn(self, done):
        finished = done.status == TrialStatus.COMPLETED and done.score is not None
        if finished and done.trial_id not in self.population:
            self.population.append(done.trial_id)
            if len(self.population) > self.population_size:
                if self.removal == "oldest":
                    self.population.pop(0)
                else:
                    self.population.remove(min(self.population, key=self._score))

    def get_state(self):
        state = super().get_state()
        state["population"] = list(self.population)
        return state

    def set_state(self, state):
        super().set_state(state)
        self.population = list(state.get("population", []))
