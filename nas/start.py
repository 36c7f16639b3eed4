"""How a trial starts, before it trains: from scratch, or

- resumed after a crash: from its own last epoch, with its optimizer's slots (store.py);
- warm: a seeded candidate from given weights of its architecture at full fidelity (a warm
  start's champion);
- from its parent: Hyperband's promotions and evolution's children inherit the parent's weights
  where shapes match (estimation/inherit.py), or start exactly where it ended through a network
  morphism (estimation/morph.py).

The label of the start goes on the leaderboard row ("scratch", "resumed at epoch 2", ...).
"""

from __future__ import annotations

import dataclasses
import os

from nas.estimation import inherit, morph
from nas.estimation.fidelity import FULL


@dataclasses.dataclass
class Start:
    """How a trial starts: its leaderboard label, its first epoch and its history so far."""

    label: str = "scratch"
    initial_epoch: int = 0
    history: dict = dataclasses.field(default_factory=dict)


def resume(store, model, trial_id: str) -> Start | None:
    """An interrupted trial continues from its last epoch (None: nothing to resume)."""
    state = store.resume(model, trial_id)
    if state is None:
        return None
    epoch, history, restored = state
    label = f"resumed at epoch {epoch}" + ("" if restored else " (fresh optimizer)")
    return Start(label, epoch, history)


def warm(space, model, arch, weights: str, label, log=print) -> str:
    """Start a seeded trial from weights of its architecture at full fidelity (the champion's):
    every layer whose shape the search fidelity kept is copied."""
    try:
        donor = space.build_model(arch, FULL, compile=False)
        donor.load_weights(weights)
    except (OSError, ValueError) as e:
        log(f"NAS seed {label}: weights {weights} not loaded ({e}); from scratch")
        return "scratch"
    copied = inherit.copy_matching(donor, model)
    return f"warm from {label} ({len(copied)} layers)"


def parent_model(space, store, trials, parent_id: str):
    """The parent trial's model with its best weights, or None if they are not there."""
    weights = store.best_weights(parent_id)
    if not os.path.exists(weights):
        return None
    parent = trials.get(parent_id)
    if parent is None:
        return None
    model = space.build_model(space.architecture(parent.hyperparameters.values), compile=False)
    model.load_weights(weights)
    return model


def from_parent(space, store, trials, model, arch, values: dict, config, seed: int) -> str:
    """Inherit or morph from the trial's parent, as `config` allows. Returns the label."""
    parent_id = values.get("nas/parent") or values.get("tuner/trial_id")
    if not parent_id or not (config.inherit_weights or config.morphism):
        return "scratch"
    parent = parent_model(space, store, trials, parent_id)
    if parent is None:
        return "scratch"
    if config.morphism and values.get("nas/morph"):
        morph.transfer(parent, model, arch, values["nas/morph"], seed)
        return f"morphed from {parent_id} ({values['nas/morph']})"
    if config.inherit_weights:
        copied = inherit.copy_matching(parent, model)
        return f"inherited {len(copied)} layers from {parent_id}"
    return "scratch"


def hyperband_initial_epoch(values: dict, config) -> int:
    """A Hyperband promotion continues at its parent's epoch count when it inherits."""
    if "tuner/epochs" in values and config.inherit_weights and values.get("tuner/trial_id"):
        return int(values.get("tuner/initial_epoch", 0))
    return 0


def choose(*, space, store, trials, config, model, arch, values, trial_id, seed, log) -> Start:
    """The start of a searched trial: resumed, else warm, else from its parent, else scratch."""
    resumed = resume(store, model, trial_id)
    if resumed is not None:
        return resumed
    initial = hyperband_initial_epoch(values, config)
    if values.get("nas/warm"):
        label = warm(space, model, arch, values["nas/warm"], values.get("nas/seed"), log)
        return Start(label, initial)
    return Start(from_parent(space, store, trials, model, arch, values, config, seed), initial)
