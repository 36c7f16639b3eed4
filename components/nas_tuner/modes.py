"""Retraining modes and promotion: what the Tuner node does instead of (or before) a fresh
search.

- `full`: a fresh search with the configured budget.
- `warm`: the search starts from the champion's architecture, with its trained weights, and the
  previous search's leader, then searches on with a quarter of the trials (`WARM_SHARE`).
- `retrain`: no search; the champion's architecture is handed to the Trainer with its weights,
  which trains it on the new data from there.
- promotion (`promote` = "TRIAL" or "RUN_ID:TRIAL"): no search; that candidate of an earlier
  search is handed to the Trainer, which trains it at full fidelity from scratch.

Warm and retrain fall back to `full`, with a line saying so, while there is no champion (or it
was trained before its weights were kept). Either way, the Evaluator gate and the pusher
judge the result as they judge a searched one.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras_tuner

from nas import baseline
from nas.config import SearchConfig
from nas.encoding import Architecture
from nas.estimation.fidelity import Fidelity
from nas.spaces import SPACE_KEY

MODES = ("full", "warm", "retrain")
# Warm mode runs max_trials / WARM_SHARE trials (at least one per seed), so that with the
# Trainer step it costs at most a third of a full run (bench/modes/RESULTS.md).
WARM_SHARE = 4
WARM_LEADERS = 1  # earlier leaders seeded beside the champion


@dataclasses.dataclass
class Fixed:
    """A candidate trained without a search: its hyperparameters (the Trainer's input), the
    weights it starts from ("" for none) and its leaderboard row."""

    hyperparameters: keras_tuner.HyperParameters
    weights: str
    row: dict

    @property
    def architecture(self) -> Architecture | None:
        return architecture_of(self.hyperparameters)


def architecture_of(hp: keras_tuner.HyperParameters) -> Architecture | None:
    """The candidate's architecture in saved hyperparameters (None for the user's baseline)."""
    values = hp.values
    return Architecture.from_values(values[SPACE_KEY], values) if SPACE_KEY in values else None


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {list(MODES)}")
    return mode


def hyperparameters_of(row: dict) -> keras_tuner.HyperParameters:
    """The Trainer's hyperparameters for a leaderboard row (a candidate or the baseline)."""
    if row.get("user_module"):
        user = keras_tuner.HyperParameters.from_config(row["hyperparameters"])
        return baseline.winner_hyperparameters(row["user_module"], user)
    arch = Architecture.from_json(row["architecture"])
    hp = keras_tuner.HyperParameters()
    for name, value in arch.choices.items():
        hp.Fixed(name, value)
    hp.Fixed(SPACE_KEY, arch.space)
    return hp


def promoted(run: str, row: dict) -> Fixed:
    hp = hyperparameters_of(row)
    out = {**row, "status": "promoted", "promoted_from": f"{run}:{row['trial_id']}"}
    out["trial_id"] = f"promoted-{row['trial_id']}"
    return Fixed(hp, "", out)


def retrained(champion: tuple[dict, str]) -> Fixed:
    hp_config, weights = champion
    hp = keras_tuner.HyperParameters.from_config(hp_config)
    fixed = Fixed(hp, weights, {})
    arch = fixed.architecture
    module = baseline.module_of(hp.values)
    fixed.row = {
        "trial_id": "champion",
        "status": "retrain",
        "score": None,
        "params": None,
        "summary": f"the champion: your model {module}" if module else "the champion",
        "architecture": arch.to_json() if arch else None,
        "user_module": module or None,
        "start": "the champion's weights",
    }
    return fixed


def warm_config(config: SearchConfig, champion, leaders: list[dict], log=print) -> SearchConfig:
    """The warm search: the champion (with its weights) and the earlier leader first, then
    the strategy, with a quarter of the trials."""
    seeds, module = [], config.baseline_module
    if champion is not None:
        hp = keras_tuner.HyperParameters.from_config(champion[0])
        arch = architecture_of(hp)
        if arch is None:  # the champion is a user's baseline model: it competes as one
            theirs = baseline.module_of(hp.values)
            if module or os.path.isfile(theirs):
                module = module or theirs
                log(
                    f"warm start: the champion is your baseline model; {module} competes "
                    "as the baseline beside the earlier leader"
                )
            else:
                log(
                    f"warm start: the champion is your baseline model, but {theirs} is gone; "
                    "only the earlier leader is seeded"
                )
        else:
            seeds.append(
                {
                    "label": "champion",
                    "space": arch.space,
                    "choices": arch.choices,
                    "weights": champion[1],
                }
            )
    added = 0
    for row in leaders:
        arch = Architecture.from_json(row["architecture"])
        if added == WARM_LEADERS or any(s["choices"] == arch.choices for s in seeds):
            continue
        added += 1
        seeds.append(
            {"label": f"leader-{row['trial_id']}", "space": arch.space, "choices": arch.choices}
        )
    trials = max(len(seeds), math.ceil(config.max_trials / WARM_SHARE))
    log(
        f"warm start: {len(seeds)} seed(s) ({', '.join(s['label'] for s in seeds)}), "
        f"{trials} of {config.max_trials} trials"
    )
    return dataclasses.replace(
        config, seeds=tuple(seeds), max_trials=trials, baseline_module=module
    )


def full_fidelity(config: SearchConfig) -> SearchConfig:
    """`config` as the Trainer's warm start must read it for weights trained at full fidelity."""
    return dataclasses.replace(config, search_fidelity=Fidelity())
