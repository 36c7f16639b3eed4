"""The engine's entry points: run a search in a resumable state directory (serially, or as the
chief of a parallel search), run a worker of a parallel search, and write the outputs.

    result = run_search(config, input_spec, data, state_dir)
    write_outputs(result, out_dir)

Outputs (`OUTPUT_FILES`): best_architecture.json, best_hyperparameters.json (KerasTuner config,
the format of TFX's Tuner), best.weights.h5, leaderboard.json / .csv, report.html,
input_spec.json, search_config.json and plan.json (the time budget's plan; null without one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import keras_tuner

from nas import baseline, distributed, report, scores, task
from nas.build import build_oracle, build_runner
from nas.config import SearchConfig
from nas.data import SearchData
from nas.encoding import Architecture
from nas.estimation import reevaluate
from nas.inputs import InputSpec
from nas.spaces import SPACE_KEY

# What write_outputs writes, by name: the file names the pipeline's adapter reads back.
OUTPUT_FILES = {
    "best_architecture": "best_architecture.json",
    "best_hyperparameters": "best_hyperparameters.json",
    "leaderboard_json": "leaderboard.json",
    "leaderboard_csv": "leaderboard.csv",
    "report": "report.html",
    "input_spec": "input_spec.json",
    "search_config": "search_config.json",
    "weights": "best.weights.h5",
    "plan": "plan.json",
}
NO_SEARCH = "none (no search)"  # the device of a result trained without a search


class SearchFailed(RuntimeError):
    """No trial finished: nothing to hand to the Trainer."""


@dataclasses.dataclass
class SearchResult:
    """A search's outcome: its winner (architecture, or None when the user's baseline model
    won; the hyperparameters that rebuild it; its weights), every leaderboard row, why the
    search stopped and where it trained. Build it with `SearchResult.of`."""

    config: SearchConfig
    input_spec: InputSpec
    best_trial_id: str
    architecture: Architecture | None  # None: the user's baseline model won
    hyperparameters: keras_tuner.HyperParameters
    weights_path: str
    rows: list
    stop_reason: str
    device: str
    plan: dict | None = None  # the time budget's plan (nas/estimation/planner.py), if any

    @classmethod
    def of(
        cls,
        config: SearchConfig,
        input_spec: InputSpec,
        winner: dict,
        *,
        architecture: Architecture | None,
        hyperparameters: keras_tuner.HyperParameters,
        weights_path: str,
        rows: list | None = None,
        stop_reason: str | None = None,
        device: str = NO_SEARCH,
        plan: dict | None = None,
    ) -> SearchResult:
        """The result whose winner is the leaderboard row `winner`. Without `rows`, a candidate
        trained without a search (a promotion, a retrain): its row is the only one, its status
        the stop reason, and the device "none (no search)"."""
        return cls(
            config=config,
            input_spec=input_spec,
            best_trial_id=winner["trial_id"],
            architecture=architecture,
            hyperparameters=hyperparameters,
            weights_path=weights_path,
            rows=[winner] if rows is None else rows,
            stop_reason=winner["status"] if stop_reason is None else stop_reason,
            device=device,
            plan=plan,
        )

    @property
    def best_score(self) -> float | None:
        """The winner's search score (None for a candidate trained without a search)."""
        return next(r.get("score") for r in self.rows if r["trial_id"] == self.best_trial_id)


@dataclasses.dataclass
class WorkerInputs:
    """What a worker of a parallel search trains with, rebuilt from the chief's announcement:
    the search's config, the input spec, the data and (optionally) the tracker."""

    config: SearchConfig
    input_spec: InputSpec
    data: SearchData
    tracker: object = None


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
    """The search. With `config.parallel_trials` > 0 this process is the chief of a parallel
    search: it serves the oracle to that many workers (`run_worker`), announced in `rendezvous`
    together with `worker_info`, and runs trials itself too."""
    log(f"NAS data: {data.describe()}{_weights_note(config, input_spec, data)}")
    if config.parallel_trials:
        runner = _run_as_chief(
            config, input_spec, data, state_dir, tracker, log, rendezvous, worker_info or {}
        )
    else:
        runner = build_runner(config, input_spec, state_dir, tracker, log, rows=data.train_rows)
        done = len(runner.rows())
        if done:
            log(f"NAS search resumes: {done} trial(s) already finished are kept")
        _search(runner, data)
    plan = runner.plan
    chosen = None
    if runner.config.reevaluates and (plan is None or plan.reevaluate):
        chosen = reevaluate.reevaluate(runner, data, log)
    elif runner.config.reevaluates:
        log("NAS re-evaluation skipped: one round at full fidelity does not fit the budget")
    return _result(runner, input_spec, log, chosen)


def _weights_note(config: SearchConfig, input_spec: InputSpec, data: SearchData) -> str:
    """What the class weights are (nas/task.py class_weights), for the data line."""
    if input_spec.task != "classification" or not data.class_counts:
        return ""
    weights = task.class_weights(data.class_counts, config.class_weight)
    share = min(c for c in data.class_counts if c) / max(1, sum(data.class_counts))
    if weights is None:
        return f"; no class weights (class_weight={config.class_weight}, minority {share:.1%})"
    shown = ", ".join(f"{k}: {v:.2f}" for k, v in weights.items())
    return f"; class weights {{{shown}}} (class_weight={config.class_weight}, minority {share:.1%})"


def _search(runner, data: SearchData) -> None:
    """The user's baseline model first (a fixed candidate), then the strategy's trials."""
    if runner.config.baseline_module:
        runner.run_fixed(baseline.UserModel(runner.config.baseline_module), data)
    runner.search(data, verbose=0)


def _result(runner, input_spec: InputSpec, log, chosen: str | None = None) -> SearchResult:
    """The search's result; `chosen`: the re-evaluation's winner (else the best score wins)."""
    config, rows = runner.config, runner.rows()
    reason = runner.oracle.stop_reason or f"max trials ({config.max_trials}) reached"
    # The best score wins, ties broken by the validation loss (nas/scores.py).
    searched = [r for r in reevaluate.top_k(rows, 1, runner.maximize) if r.get("architecture")]
    best = runner.oracle.trials[searched[0]["trial_id"]] if searched else None
    best_score = searched[0]["score"] if searched else None
    mine = next((r for r in rows if r["trial_id"] == baseline.BASELINE_ID), None)
    if chosen is not None:  # re-evaluated on the mean, the baseline beside the leaders
        mine_wins = chosen == baseline.BASELINE_ID
        if not mine_wins:
            best = runner.oracle.trials[chosen]
            best_score = next(r["score_mean"] for r in rows if r["trial_id"] == chosen)
    else:
        key = scores.rank_key
        mine_wins = reevaluate.finished(mine) and (
            not searched or key(mine, runner.maximize) < key(searched[0], runner.maximize)
        )
    how = "mean of its re-evaluation runs" if chosen else "score"
    if mine_wins:
        score = mine["score_mean"] if chosen else mine["score"]
        log(
            f"NAS search done ({reason}): your baseline model wins, {how}={score:.4f} "
            f"({mine['summary']})"
        )
        user_hp = keras_tuner.HyperParameters.from_config(mine["hyperparameters"])
        winner, arch = mine, None
        hp = baseline.winner_hyperparameters(config.baseline_module, user_hp)
    elif best is None:
        raise SearchFailed(
            f"no trial of the {config.strategy} search finished; see the trial messages above"
        )
    else:
        space = runner.space
        arch = space.architecture(best.hyperparameters.values)
        hp = space.hyperparameters()
        hp.values.update(arch.choices)
        log(
            f"NAS search done ({reason}): best trial {best.trial_id} {how}={best_score:.4f} "
            f"{space.describe(arch)}"
        )
        winner = next(
            (r for r in rows if r["trial_id"] == best.trial_id), {"trial_id": best.trial_id}
        )
    return SearchResult.of(
        config,
        input_spec,
        winner,
        architecture=arch,
        hyperparameters=hp,
        weights_path=runner.store.best_weights(winner["trial_id"]),
        rows=rows,
        stop_reason=reason,
        device=runner.device.describe(),
        plan=runner.plan.to_dict() if runner.plan is not None else None,
    )


def _run_as_chief(config, input_spec, data, state_dir, tracker, log, rendezvous, worker_info):
    if not rendezvous:
        raise ValueError("a parallel search (workers > 0) needs a rendezvous folder")
    built = build_oracle(config, input_spec, log, data.train_rows)
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
    log(
        f"NAS parallel trials: serving the oracle on {advertise}:{port} for "
        f"{config.parallel_trials} worker(s) and this process"
    )
    try:
        runner = build_runner(config, input_spec, state_dir, tracker, log, built, rendezvous)
        _search(runner, data)
        distributed.wait_until_idle(oracle, timeout_s=distributed.RPC_TIMEOUT_S)
    finally:
        distributed.mark_done(rendezvous, oracle.stop_reason or "")
        server.stop(5)
        distributed.clear_client_env()
    runner.oracle = oracle  # the real oracle again: every runner's trials are in it
    return runner


def run_worker(
    rendezvous: str, index: int, state_dir: str, inputs, *, wait_s: float = 600, log=print
) -> int:
    """Worker `index` of the parallel search whose chief announces itself in `rendezvous`: wait
    for the chief (up to `wait_s`), rebuild the search with `inputs(announcement)` (a
    `WorkerInputs`; the announcement holds the chief's `worker_info`), then run trials in the
    shared `state_dir` until the chief has none left. Returns how many trials it ran (0 when
    the search was over, or cached, before this worker arrived)."""
    log(f"NAS worker {index}: waiting for the chief in {rendezvous}")
    chief = distributed.wait_for_chief(rendezvous, wait_s)
    if chief is None:
        log(f"NAS worker {index}: the search is already over (or was cached)")
        return 0
    job = inputs(chief)
    distributed.set_client_env(chief["host"], chief["port"], distributed.worker_id(index))
    try:
        runner = build_runner(
            job.config,
            job.input_spec,
            state_dir,
            job.tracker,
            log,
            rendezvous=rendezvous,
            rows=job.data.train_rows,
        )
        runner.search(job.data, verbose=0)
    finally:
        distributed.clear_client_env()
    # Counted in memory: the chief removes the state directory once every runner is done.
    log(f"NAS worker {index}: ran {len(runner.recorded)} trial(s): {runner.recorded}")
    return len(runner.recorded)


def write_outputs(result: SearchResult, out_dir: str) -> dict:
    """Write the search's outputs (`OUTPUT_FILES`) to `out_dir`. Returns their paths by name."""
    os.makedirs(out_dir, exist_ok=True)
    maximize = task.direction(result.config.objective) == "max"
    ranked = report.rank(result.rows, maximize)
    paths = {name: os.path.join(out_dir, file) for name, file in OUTPUT_FILES.items()}
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
                "plan": result.plan["line"] if result.plan else "none",
            },
        ),
        "input_spec": result.input_spec.to_json(),
        "search_config": result.config.to_json(),
        "plan": json.dumps(result.plan, indent=1, sort_keys=True),
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


__all__ = [
    "OUTPUT_FILES",
    "SearchFailed",
    "SearchResult",
    "WorkerInputs",
    "load_architecture",
    "run_search",
    "run_worker",
    "write_outputs",
]
