"""The engine's entry point: configure the device, build the space and strategy, run the search
in a resumable state directory, and write its outputs.

    result = run_search(config, input_spec, data, state_dir)
    write_outputs(result, out_dir)

Outputs: best_architecture.json, best_hyperparameters.json (KerasTuner config, the format of
TFX's Tuner), best.weights.h5, leaderboard.json / .csv, report.html, input_spec.json and
search_config.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import keras_tuner

from nas import baseline, distributed, report, task
from nas import device as device_module
from nas.config import SearchConfig
from nas.encoding import Architecture
from nas.estimation.fidelity import FULL
from nas.inputs import InputSpec
from nas.spaces import SPACE_KEY, get_space
from nas.strategies import make_oracle
from nas.tuner import BEST, NASTuner, SearchData


class SearchFailed(RuntimeError):
    """No trial finished: nothing to hand to the Trainer."""


@dataclasses.dataclass
class SearchResult:
    config: SearchConfig
    input_spec: InputSpec
    best_trial_id: str
    architecture: Architecture | None  # None: the user's baseline model won
    hyperparameters: keras_tuner.HyperParameters
    weights_path: str
    rows: list
    stop_reason: str
    device: str

    @property
    def best_score(self) -> float | None:
        """The winner's search score (None for a candidate trained without a search)."""
        return next(r.get("score") for r in self.rows if r["trial_id"] == self.best_trial_id)


def param_limit(space, limit: int):
    """A constraint that rejects candidates above `limit` parameters at full fidelity."""

    def check(arch: Architecture) -> str:
        n = space.count_params(arch, FULL)
        return f"{n} parameters > limit {limit}" if n > limit else ""

    return check


def build_oracle(config: SearchConfig, input_spec: InputSpec, log=print):
    """(device, space, oracle) for `config`."""
    dev = device_module.configure(config.mixed)
    space = get_space(config.space, input_spec, fidelity=config.search_fidelity, seed=config.seed)
    options = dict(config.strategy_options)
    if config.strategy == "evolution" and config.morphism:
        options.setdefault("morph_rate", 0.5)
    oracle = make_oracle(
        config.strategy,
        space,
        objective=keras_tuner.Objective(config.objective, task.direction(config.objective)),
        max_trials=config.max_trials,
        seed=config.seed,
        epochs=space.fidelity.epochs_for(config.epochs),
        patience=config.patience,
        time_budget_s=60 * config.time_budget_min,
        compute_budget=config.compute_budget,
        constraint=param_limit(space, config.max_params) if config.max_params else None,
        surrogate=config.surrogate,
        options=options,
    )
    oracle.seeds = seed_values(config.seeds, space, log)
    if oracle.seeds and not oracle.seeds_ok:
        log(f"NAS seeds ignored: the {config.strategy} strategy orders its own candidates; "
            "the warm search runs without them")  # fmt: skip
    return dev, space, oracle


def seed_values(seeds, space, log=print) -> list[dict]:
    """Trial values for the seeds that fit `space` (others are named and skipped)."""
    out = []
    for seed in seeds:
        if seed["space"] != space.name:
            log(f"NAS seed {seed['label']!r} is from space {seed['space']!r}, not "
                f"{space.name!r}: skipped")  # fmt: skip
            continue
        try:
            arch = space.architecture(seed["choices"])
        except ValueError as e:
            log(f"NAS seed {seed['label']!r} does not fit space {space.name!r} ({e}): skipped")
            continue
        values = {**arch.choices, SPACE_KEY: space.name, "nas/seed": seed["label"]}
        if seed.get("weights"):
            values["nas/warm"] = seed["weights"]
        out.append(values)
    return out


def build_tuner(
    config: SearchConfig,
    input_spec: InputSpec,
    state_dir: str,
    tracker=None,
    log=print,
    built=None,
    rendezvous: str = "",
) -> NASTuner:
    dev, space, oracle = built or build_oracle(config, input_spec, log)
    os.makedirs(state_dir, exist_ok=True)
    tuner = NASTuner(
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
        f"max_trials={config.max_trials} fidelity={space.fidelity.label()} {dev.describe()} "
        f"state={tuner.project_dir}"
    )
    return tuner


def run_search(
    config: SearchConfig,
    input_spec: InputSpec,
    data: SearchData,
    state_dir: str,
    tracker=None,
    log=print,
    rendezvous: str = "",
    worker_info: dict | None = None,
) -> SearchResult:
    """The search. With `config.parallel_trials` > 0 this process is the chief of a parallel search:
    it serves the oracle to that many workers (`run_worker`), announced in `rendezvous`
    together with `worker_info`, and runs trials itself too."""
    if config.parallel_trials:
        tuner = _run_as_chief(config, input_spec, data, state_dir, tracker, log, rendezvous,
                              worker_info or {})  # fmt: skip
    else:
        tuner = build_tuner(config, input_spec, state_dir, tracker, log)
        done = len(tuner.rows())
        if done:
            log(f"NAS search resumes: {done} trial(s) already finished are kept")
        if config.baseline_module:
            tuner.run_baseline(data, config.baseline_module)
        tuner.search(data, verbose=0)
    rows = tuner.rows()
    reason = tuner.oracle.stop_reason or f"max trials ({config.max_trials}) reached"
    best = tuner.oracle.get_best_trials(1)
    best = best[0] if best and best[0].score is not None else None
    mine = next((r for r in rows if r["trial_id"] == baseline.BASELINE_ID), None)
    sign = 1 if tuner.maximize else -1
    if mine is not None and (best is None or sign * mine["score"] > sign * best.score):
        log(f"NAS search done ({reason}): your baseline model wins, score={mine['score']:.4f} "
            f"({mine['summary']})")  # fmt: skip
        user_hp = keras_tuner.HyperParameters.from_config(mine["hyperparameters"])
        return SearchResult(
            config=config,
            input_spec=input_spec,
            best_trial_id=baseline.BASELINE_ID,
            architecture=None,
            hyperparameters=baseline.winner_hyperparameters(config.baseline_module, user_hp),
            weights_path=os.path.join(tuner.project_dir, f"trial_{baseline.BASELINE_ID}", BEST),
            rows=rows,
            stop_reason=reason,
            device=tuner.device.describe(),
        )
    if best is None:
        raise SearchFailed(
            f"no trial of the {config.strategy} search finished; see the trial messages above"
        )
    space = tuner.space
    arch = space.architecture(best.hyperparameters.values)
    hp = space.hyperparameters()
    hp.values.update(arch.choices)
    log(
        f"NAS search done ({reason}): best trial {best.trial_id} score={best.score:.4f} "
        f"{space.describe(arch)}"
    )
    return SearchResult(
        config=config,
        input_spec=input_spec,
        best_trial_id=best.trial_id,
        architecture=arch,
        hyperparameters=hp,
        weights_path=os.path.join(tuner.project_dir, f"trial_{best.trial_id}", BEST),
        rows=rows,
        stop_reason=reason,
        device=tuner.device.describe(),
    )


def _run_as_chief(config, input_spec, data, state_dir, tracker, log, rendezvous, worker_info):
    if not rendezvous:
        raise ValueError("a parallel search (workers > 0) needs a rendezvous folder")
    built = build_oracle(config, input_spec, log)
    oracle = built[2]
    oracle._set_project_dir(state_dir, "search")
    if os.path.exists(os.path.join(oracle._project_dir, "oracle.json")):
        oracle.reload()  # a retried chief keeps the trials already run
    bind, advertise = distributed.chief_host()
    server, port = distributed.serve(oracle, bind)
    runners = config.parallel_trials + 1
    distributed.gang_start(oracle, runners, config.worker_wait_s, log)
    distributed.set_client_env(advertise, port, distributed.CHIEF_ID)
    distributed.write_chief(rendezvous, {"host": advertise, "port": port, **worker_info})
    log(f"NAS parallel trials: serving the oracle on {advertise}:{port} for "
        f"{config.parallel_trials} worker(s) and this process")  # fmt: skip
    try:
        tuner = build_tuner(config, input_spec, state_dir, tracker, log, built, rendezvous)
        if config.baseline_module:
            tuner.run_baseline(data, config.baseline_module)
        tuner.search(data, verbose=0)
        distributed.wait_until_idle(oracle, timeout_s=distributed.RPC_TIMEOUT_S)
    finally:
        distributed.mark_done(rendezvous, oracle.stop_reason or "")
        server.stop(5)
        distributed.clear_client_env()
    tuner.oracle = oracle  # the real oracle again: every runner's trials are in it
    return tuner


def run_worker(
    config: SearchConfig,
    input_spec: InputSpec,
    data: SearchData,
    state_dir: str,
    rendezvous: str,
    index: int,
    chief: dict,
    tracker=None,
    log=print,
) -> int:
    """Run trials for the chief announced in `chief` (from `distributed.wait_for_chief`) until
    it has none left. Returns how many trials this worker ran."""
    me = distributed.worker_id(index)
    distributed.set_client_env(chief["host"], chief["port"], me)
    try:
        tuner = build_tuner(config, input_spec, state_dir, tracker, log, rendezvous=rendezvous)
        tuner.search(data, verbose=0)
    finally:
        distributed.clear_client_env()
    # Counted in memory: the chief removes the state directory once every runner is done.
    log(f"NAS worker {index}: ran {len(tuner.recorded)} trial(s): {tuner.recorded}")
    return len(tuner.recorded)


def write_outputs(result: SearchResult, out_dir: str) -> dict:
    """Write the search's outputs to `out_dir`. Returns their paths by name."""
    os.makedirs(out_dir, exist_ok=True)
    maximize = task.direction(result.config.objective) == "max"
    ranked = report.rank(result.rows, maximize)
    paths = {
        "best_architecture": os.path.join(out_dir, "best_architecture.json"),
        "best_hyperparameters": os.path.join(out_dir, "best_hyperparameters.json"),
        "leaderboard_json": os.path.join(out_dir, "leaderboard.json"),
        "leaderboard_csv": os.path.join(out_dir, "leaderboard.csv"),
        "report": os.path.join(out_dir, "report.html"),
        "input_spec": os.path.join(out_dir, "input_spec.json"),
        "search_config": os.path.join(out_dir, "search_config.json"),
        "weights": os.path.join(out_dir, "best.weights.h5"),
    }
    files = {
        "best_architecture": result.architecture.to_json() if result.architecture else "null",
        "best_hyperparameters": json.dumps(result.hyperparameters.get_config()),
        "leaderboard_json": report.write_json(ranked),
        "leaderboard_csv": report.to_csv(ranked),
        "report": report.render_html(
            result.rows,
            f"NAS search: {result.config.space} / {result.config.strategy}",
            maximize,
            meta={
                "objective": f"{result.config.objective} ({'max' if maximize else 'min'})",
                "best trial": result.best_trial_id,
                "best score": "-" if result.best_score is None else f"{result.best_score:.4f}",
                "stopped because": result.stop_reason,
                "trials": len(result.rows),
                "device": result.device,
                "fidelity": result.config.search_fidelity.label(),
            },
        ),
        "input_spec": result.input_spec.to_json(),
        "search_config": result.config.to_json(),
    }
    for name, text in files.items():
        with open(paths[name], "w") as f:
            f.write(text)
    if result.weights_path and os.path.exists(result.weights_path):
        shutil.copyfile(result.weights_path, paths["weights"])
    return paths


def load_architecture(hparams: dict) -> tuple[str, dict]:
    """(space name, choices) from a best_hyperparameters config's values."""
    values = keras_tuner.HyperParameters.from_config(hparams).values
    if SPACE_KEY not in values:
        raise ValueError("these hyperparameters do not come from the NAS tuner")
    return values[SPACE_KEY], Architecture.from_values(values[SPACE_KEY], values).choices
