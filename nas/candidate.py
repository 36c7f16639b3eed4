"""What the trial runner trains: a candidate, proposed by the strategy or fixed in advance.

Both go through the one trial runner (runner.py) with the same data, fidelity, epochs, budget,
seeding, checkpoints, leaderboard row and progress line. A strategy's proposal (`Proposal`)
is "searched": the search's limits can prune it, it resumes after a crash, it can start from a
seed's or its parent's weights, and curve stop and successive halving can end it early. A fixed
candidate (the user's own model, `nas.baseline.UserModel`) trains from scratch for the full
epochs; an interrupted one starts again.
"""

from __future__ import annotations

import dataclasses

import keras_tuner

from nas.encoding import Architecture
from nas.estimation.fidelity import FULL


@dataclasses.dataclass
class Candidate:
    """A candidate for the trial runner: its trial id, its architecture in the space (None for
    a model from elsewhere), its trial's values (strategy bookkeeping: parents, seeds,
    Hyperband's schedule) and whether it is searched (see the module's docstring)."""

    trial_id: str
    arch: Architecture | None = None
    values: dict = dataclasses.field(default_factory=dict)
    searched: bool = True

    def build(self, space, steps: int = 0):
        """The compiled model to train (`steps`: the training steps it will take)."""
        raise NotImplementedError

    def params(self, space, model) -> int:
        """The parameter count the leaderboard and the limits see."""
        return int(model.count_params())

    def row_fields(self, space) -> dict:
        """This candidate's own leaderboard fields (at least its one-line summary)."""
        return {"summary": space.describe(self.arch) if self.arch else ""}

    def missing_objective(self, objective: str) -> Exception:
        """The error when training reported no `objective`."""
        return keras_tuner.errors.FailedTrialError(f"trial {self.trial_id} reported no {objective}")


class Proposal(Candidate):
    """A strategy's proposal: a KerasTuner trial's architecture in the space."""

    @classmethod
    def of(cls, trial, space, with_arch: bool = True) -> Proposal:
        values = trial.hyperparameters.values
        arch = space.architecture(values) if with_arch else None
        return cls(trial.trial_id, arch, values)

    def build(self, space, steps: int = 0):
        return space.build_model(self.arch, steps=steps)

    def params(self, space, model) -> int:
        """At full fidelity, whatever the search's fidelity (the Trainer trains that one)."""
        if space.fidelity.is_full:
            return int(model.count_params())
        return int(space.count_params(self.arch, FULL))
