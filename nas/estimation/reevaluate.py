"""Choosing a winner that is good, not lucky: the top-k candidates of the search are trained again
from scratch at full fidelity, each run with its own seed, and the winner is the best mean.
Picking the maximum of many noisy scores on one validation split favours luck (a search that
scored 0.989 on validation tested at 0.967); the mean of several runs does not.

Runs go round by round (every candidate's first extra run, then every candidate's second), so
candidates are always compared on the same number of runs; a round the time budget cuts short
does not count. The search keeps time for one round (`reserve_s`): it stops when what is left
of the budget is what the current leaders' runs would take, up to `reevaluate_share` of it.
When the search trained at full fidelity, a candidate's search score is one of its runs. The
user's baseline model, when it finished, is re-evaluated beside them: it wins only on its mean
too (compared on its single score, it beat a winner's mean by luck). The leaderboard rows of
the re-evaluated candidates get `score_mean`, `score_std`, `score_runs` and `val_loss_mean`:
equal means are told apart by the mean validation loss (nas/scores.py).
"""

from __future__ import annotations

import math
import time

import keras
import keras_tuner
import numpy as np

from nas import baseline
from nas.baseline import BASELINE_ID
from nas.encoding import Architecture
from nas.epochs import EpochLog, count_rows, epoch_counts
from nas.estimation.fidelity import FULL
from nas.scores import rank_key
from nas.spaces import DEFAULT_BATCH_SIZE


class Deadline(keras.callbacks.Callback):
    """Stops training at the batch in which wall-clock time `deadline` passes: a run the
    deadline cuts does not count, so finishing its epoch (on a big table, minutes past the
    budget) would be time spent for nothing."""

    def __init__(self, deadline: float | None):
        super().__init__()
        self.deadline = deadline

    def _check(self, *_args, **_kwargs):
        if self.deadline is not None and time.time() >= self.deadline:
            self.model.stop_training = True

    on_train_batch_end = on_epoch_end = _check


def rerun(runner, trial_id: str, build, k: int, data, callbacks=(), batch=None) -> dict:
    """Train trial `trial_id`'s model again from scratch on all the data, with seed number
    `k` of its own: the re-evaluation's run. `build(steps)` returns the compiled model at
    full fidelity; `batch`: its batch size (the search's by default). Returns {"score",
    "epochs", "wall_s", "complete"} and what its epochs trained on (`epoch_counts`); a
    complete run is kept in the store and never trained again."""
    done = runner.store.rerun(trial_id, k)
    if done is not None:
        return done
    t0, cfg, run_id = time.time(), runner.config, f"{trial_id}:rerun{k}"
    batch = batch or cfg.batch_size or DEFAULT_BATCH_SIZE
    rows = [data.train_rows] * cfg.epochs
    keras.utils.set_random_seed(runner.seed_of(run_id))
    with runner.device.scope():
        model = build(sum(data.steps_for(r, batch) for r in rows))
    count_rows(model)
    log = EpochLog()
    runner.fit_epochs(model, data, batch, rows, 0, [log, *callbacks], run_id)
    values = log.history.get(cfg.objective)
    if not values:
        raise keras_tuner.errors.FailedTrialError(f"rerun {run_id} reported no {cfg.objective}")
    result = {
        **runner.scored(log.history),
        "epochs": len(values),
        "wall_s": round(time.time() - t0, 2),
        "complete": len(values) >= cfg.epochs,
        **epoch_counts(log.history),
    }
    if result["complete"]:
        runner.store.keep_rerun(trial_id, k, result)
    return result


def finished(row: dict | None) -> bool:
    """Whether a leaderboard row finished training with a finite score."""
    if row is None or row["status"] != "completed":
        return False
    score = row.get("score")
    return score is not None and math.isfinite(score)


def top_k(rows: list[dict], k: int, maximize: bool) -> list[dict]:
    """The k best searched candidates that finished with a finite score, then the user's
    baseline model when it finished (it is compared on the same runs)."""
    done = [r for r in rows if finished(r) and r.get("architecture")]
    done = [r for r in done if r["trial_id"] != BASELINE_ID]
    mine = [r for r in rows if r["trial_id"] == BASELINE_ID and finished(r)]
    return sorted(done, key=lambda r: rank_key(r, maximize))[:k] + mine


def reserve_s(config, rows: list[dict], maximize: bool) -> float:
    """Seconds one re-evaluation round of the current leaders (and the baseline) would take
    (each one's measured seconds per epoch times the full epochs), at most `reevaluate_share`
    of the time budget; 0 with fewer than two, without a time budget or without re-evaluation."""
    leaders = top_k(rows, config.reevaluate_top, maximize)
    if not config.reevaluates or len(leaders) < 2 or not config.time_budget_min:
        return 0.0
    round_s = sum(r["wall_s"] / max(1, r["epochs"]) * config.epochs for r in leaders)
    return min(round_s, config.reevaluate_share * 60 * config.time_budget_min)


def reevaluate(runner, data, log=print) -> str | None:
    """Re-evaluate the search's top candidates (see the module's docstring). Returns the
    winner's trial id (`BASELINE_ID` when the user's model wins), or None when fewer than two
    candidates or no complete round exist (the search's best single score then decides)."""
    cfg = runner.config
    leaders = top_k(runner.rows(), cfg.reevaluate_top, runner.maximize)
    if len(leaders) < 2:
        return None
    deadline = None
    if runner.oracle.started_at is not None and cfg.time_budget_min:
        deadline = runner.oracle.started_at + 60 * cfg.time_budget_min
    full = runner.space.fidelity.is_full
    # (score, validation loss) of each run; the search's own when it trained at full fidelity
    runs = {r["trial_id"]: ([(r["score"], r.get("val_loss"))] if full else []) for r in leaders}
    log(
        f"NAS re-evaluation: the top {len(leaders)} candidates, {cfg.reevaluate_runs} more "
        f"run(s) each at full fidelity ({', '.join(runs)})"
    )
    rounds = 0
    for k in range(cfg.reevaluate_runs):
        round_scores = {}
        for row in leaders:
            if deadline is not None and time.time() >= deadline:
                break
            try:
                build = _builder(runner.space, row)
                result = rerun(
                    runner,
                    row["trial_id"],
                    build,
                    k,
                    data,
                    [Deadline(deadline)],
                    row.get("batch_size"),
                )
            except Exception as e:  # the search's result stands without the re-evaluation
                log(f"NAS re-evaluation failed ({e!r}); the best single score decides")
                return None
            if not result["complete"]:
                break
            round_scores[row["trial_id"]] = (result["score"], result.get("val_loss"))
        if len(round_scores) < len(leaders):
            log(f"NAS re-evaluation: the time budget ended round {k + 1}; it does not count")
            break
        for tid, run in round_scores.items():
            runs[tid].append(run)
        rounds += 1
    if not rounds:
        return None
    sign = 1 if runner.maximize else -1
    ranked = []
    for row in leaders:
        scores = np.asarray([s for s, _ in runs[row["trial_id"]]], dtype=float)
        losses = np.asarray([math.inf if v is None else v for _, v in runs[row["trial_id"]]])
        # A run that diverged (NaN) makes the candidate the worst: it is not reliable.
        mean = float(scores.mean()) if np.isfinite(scores).all() else -sign * math.inf
        row = {
            **row,
            "score_mean": round(mean, 6),
            "score_std": round(float(scores.std()), 6),
            "score_runs": len(scores),
            "val_loss_mean": round(float(losses.mean()), 6) if np.isfinite(losses).all() else None,
        }
        ranked.append(row)
        runner.store.append(row)
        if runner.tracker is not None:  # the trial's own run gets the mean and the spread
            runner.tracker.log_trial(row, _choices(row), {})
        log(
            f"NAS re-evaluation: trial {row['trial_id']} mean={row['score_mean']:.4f} "
            f"std={row['score_std']:.4f} over {len(scores)} run(s) ({row['summary']})"
        )
    # The best mean wins; on a tie, the lowest mean validation loss (nas/scores.py).
    return min(ranked, key=lambda r: rank_key(r, runner.maximize))["trial_id"]


def _builder(space, row: dict):
    """`build(steps)`: the row's model, compiled, at full fidelity (the user's model rebuilt
    from its module with the hyperparameters it declared)."""
    if row["trial_id"] == BASELINE_ID:
        hp = keras_tuner.HyperParameters.from_config(row["hyperparameters"])
        return lambda steps: baseline.build(row["user_module"], space.input_spec, hp)[0]
    arch = space.architecture(_choices(row))
    return lambda steps: space.build_model(arch, FULL, steps=steps)


def _choices(row: dict) -> dict:
    if not row.get("architecture"):  # the user's model: no choices of the space
        return {}
    return Architecture.from_json(row["architecture"]).choices
