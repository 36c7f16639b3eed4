"""Assembling a search from its config: the device, the space, the strategy's oracle (with the
warm start's seeds and the parameter limit) and the trial runner."""

from __future__ import annotations

import os

import keras_tuner

from nas import device as device_module
from nas import task
from nas.config import SearchConfig
from nas.encoding import Architecture
from nas.estimation.fidelity import FULL
from nas.estimation.inherit import copy_matching
from nas.inputs import InputSpec
from nas.runner import TrialRunner
from nas.spaces import SPACE_KEY, get_space
from nas.strategies import make_oracle


def param_limit(space, limit: int):
    """A constraint that rejects candidates above `limit` parameters at full fidelity."""

    def check(arch: Architecture) -> str:
        n = space.count_params(arch, FULL)
        return f"{n} parameters > limit {limit}" if n > limit else ""

    return check


def build_oracle(config: SearchConfig, input_spec: InputSpec, log=print, rows: int = 0):
    """(device, space, oracle) for `config` (its space resolved: `SearchConfig.resolved`) over
    `rows` training rows (they narrow the batch sizes offered; 0: unknown, all offered)."""
    config = config.resolved(input_spec)
    dev = device_module.configure(config.mixed)
    space = get_space(
        config.space,
        input_spec,
        fidelity=config.search_fidelity,
        seed=config.seed,
        rows=rows,
        batch_size=config.batch_size,
    )
    oracle = make_oracle(
        config.strategy,
        space,
        objective=keras_tuner.Objective(config.objective, task.direction(config.objective)),
        max_trials=config.max_trials,
        seed=config.seed,
        epochs=space.fidelity.epochs_for(config.epochs),
        morphism=config.morphism,
        patience=config.patience,
        time_budget_s=60 * config.time_budget_min,
        compute_budget=config.compute_budget,
        constraint=param_limit(space, config.max_params) if config.max_params else None,
        surrogate=config.surrogate,
        options=dict(config.strategy_options),
    )
    oracle.seeds = seed_values(config.seeds, space, log)
    if oracle.seeds and not oracle.seeds_ok:
        log(
            f"NAS seeds ignored: the {config.strategy} strategy orders its own candidates; "
            "the warm search runs without them"
        )
    return dev, space, oracle


def seed_values(seeds, space, log=print) -> list[dict]:
    """Trial values for the seeds that fit `space` (others are named and skipped), their batch
    size moved into the range this search offers."""
    out = []
    for seed in seeds:
        if seed["space"] != space.name:
            log(
                f"NAS seed {seed['label']!r} is from space {seed['space']!r}, not "
                f"{space.name!r}: skipped"
            )
            continue
        try:
            arch = space.offer(space.architecture(seed["choices"]))
        except ValueError as e:
            log(f"NAS seed {seed['label']!r} does not fit space {space.name!r} ({e}): skipped")
            continue
        values = {**arch.choices, SPACE_KEY: space.name, "nas/seed": seed["label"]}
        if seed.get("weights"):
            values["nas/warm"] = seed["weights"]
        out.append(values)
    return out


def build_runner(
    config: SearchConfig,
    input_spec: InputSpec,
    state_dir: str,
    tracker=None,
    log=print,
    built=None,
    rendezvous: str = "",
    rows: int = 0,
) -> TrialRunner:
    """The trial runner of the search in `state_dir` over `rows` training rows (`built`: a
    `build_oracle` result to use)."""
    config = config.resolved(input_spec)
    dev, space, oracle = built or build_oracle(config, input_spec, log, rows)
    os.makedirs(state_dir, exist_ok=True)
    runner = TrialRunner(
        oracle,
        space,
        config,
        directory=state_dir,
        device=dev,
        tracker=tracker,
        log=log,
        rendezvous=rendezvous,
        distribution_strategy=dev.strategy,
    )
    log(
        f"NAS search: space={config.space} strategy={config.strategy} "
        f"max_trials={config.max_trials} fidelity={space.fidelity.label()} "
        f"batch_size={'|'.join(map(str, space.choice('batch_size').values))} {dev.describe()} "
        f"state={runner.project_dir}"
    )
    return runner


def winner_model(
    arch: Architecture,
    input_spec: InputSpec,
    *,
    seed: int,
    steps: int = 0,
    weights: str = "",
    fidelity=FULL,
):
    """The winner as the Trainer trains it: `arch` at full fidelity (its learning-rate schedule
    over `steps`), warm-started, wherever the shapes match, from `weights` (saved by `arch`
    built at `fidelity`, the search's). Returns (model, the layers copied: None without
    weights)."""
    model = get_space(arch.space, input_spec, seed=seed).build_model(arch, steps=steps)
    if not weights or not os.path.exists(weights):
        return model, None
    donor = get_space(arch.space, input_spec, fidelity=fidelity, seed=seed)
    donor = donor.build_model(arch, compile=False)
    donor.load_weights(weights)
    return model, copy_matching(donor, model)
