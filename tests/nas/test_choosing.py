"""How the search spends its first phase and picks its winner: random draws follow the priors
(Adam first, no SGD at tiny rates), the learning-curve stop waits for enough full trials or a
share of the budget, and the top candidates are re-evaluated with other seeds and chosen on
their mean, a round cut by the time budget not counting, resumable without retraining."""

from __future__ import annotations

import collections
import glob
import os
import random
import time

import pytest

from nas.build import build_runner
from nas.estimation import curve, reevaluate
from nas.report import rank
from nas.search import run_search, write_outputs
from nas.spaces import get_space
from tests.nas.conftest import EXAMPLE, SPECS, config, small


def test_random_draws_follow_the_priors():
    space = get_space("chain", SPECS["tabular"])
    rng = random.Random(1)
    draws = [space.sample(rng).choices for _ in range(3000)]
    optimizers = collections.Counter(d["optimizer"] for d in draws)
    assert 0.55 < optimizers["adam"] / len(draws) < 0.65
    pairs = collections.Counter((d["optimizer"], d["learning_rate"]) for d in draws)
    assert pairs[("sgd", 0.001)] == 0  # barely moves in a few epochs
    assert pairs[("adam", 0.003)] > pairs[("adam", 0.03)] * 3
    # Mutation still reaches every value: priors shape only the draws.
    assert set(space.choice("learning_rate").values) == {0.03, 0.01, 0.003, 0.001}


def test_the_curve_stop_waits_for_full_trials_or_a_budget_share(digits, tmp_path):
    spec, data = small(digits, n_train=200, n_val=100)
    state = str(tmp_path / "s")
    run_search(config(max_trials=3, epochs=2), spec, data, state, log=lambda _l: None)

    def target(**kw):
        cfg = config(max_trials=10, epochs=2, curve_stop=True, **kw)
        runner = build_runner(cfg, spec, state, log=lambda _l: 0)
        return curve.target(runner), runner.oracle.best_score()

    got, best = target(curve_min_trials=3, curve_wait_share=1.0)
    assert got == best is not None  # three full trials: the stop may act
    got, _ = target(curve_min_trials=4, curve_wait_share=1.0)
    assert got is None  # too few full trials, and only 3 of 10 trials spent ...
    got, best = target(curve_min_trials=4, curve_wait_share=0.3)
    assert got == best  # ... which is the share this config waits for


def test_the_top_candidates_are_rerun_and_the_best_mean_wins(digits, tmp_path):
    spec, data = small(digits, n_train=300, n_val=100)
    cfg = config(max_trials=4, epochs=2, reevaluate_top=3, reevaluate_runs=2, seed=4)
    lines = []
    state = str(tmp_path / "s")
    result = run_search(cfg, spec, data, state, log=lines.append)
    again = [r for r in result.rows if "score_mean" in r]
    assert len(again) == 3 and all(r["score_runs"] == 3 for r in again)  # search + 2 runs
    means = {r["trial_id"]: r["score_mean"] for r in again}
    assert result.best_trial_id == max(means, key=means.get)
    assert any(r["score_std"] > 0 for r in again)
    reruns = glob.glob(os.path.join(state, "search", "trial_*", "rerun-*.json"))
    assert len(reruns) == 6
    # The leaderboard ranks the re-evaluated first, by mean, and shows the spread.
    board = rank(result.rows)
    assert board[0]["trial_id"] == result.best_trial_id
    paths = write_outputs(result, str(tmp_path / "out"))
    with open(paths["leaderboard_csv"]) as f:
        assert f.readline().startswith("rank,trial_id,status,score,score_se,score_mean,score_std")
    assert any("mean of its re-evaluation runs" in line for line in lines)

    # Resumed: every run is kept, none trains again, and the winner is the same.
    stamps = {p: os.path.getmtime(p) for p in reruns}
    resumed = run_search(cfg, spec, data, state, log=lambda _l: None)
    assert resumed.best_trial_id == result.best_trial_id
    assert all(os.path.getmtime(p) == t for p, t in stamps.items())


def test_a_round_the_time_budget_cuts_does_not_count(digits, tmp_path):
    spec, data = small(digits, n_train=200, n_val=100)
    state = str(tmp_path / "s")
    run_search(config(max_trials=3, epochs=2), spec, data, state, log=lambda _l: None)
    cfg = config(max_trials=3, epochs=2, reevaluate_top=3, time_budget_min=1.0)
    lines = []
    runner = build_runner(cfg, spec, state, log=lines.append)
    # The search keeps time for one round: the leaders' measured seconds, at most a quarter.
    one_round = sum(r["wall_s"] / r["epochs"] * 2 for r in runner.rows())
    assert runner.oracle.reserve_s == pytest.approx(min(one_round, 15.0))
    assert 0 < runner.oracle.reserve_s <= 15.0
    runner.oracle.started_at = time.time() - 120  # the whole budget is spent
    assert reevaluate.reevaluate(runner, data, lines.append) is None
    assert any("does not count" in line for line in lines)
    assert not any("score_mean" in r for r in runner.rows())


def test_the_users_baseline_is_rerun_beside_the_leaders_and_judged_on_its_mean(digits, tmp_path):
    """Compared on its single score against a winner's mean, the baseline won by luck (the
    Airflow warm run's champion flipped to it); re-evaluated beside the leaders, it is not."""
    spec, data = small(digits, n_train=300, n_val=100, image=False)
    cfg = config(
        max_trials=2, epochs=2, reevaluate_top=2, reevaluate_runs=1, baseline_module=EXAMPLE
    )
    lines = []
    result = run_search(cfg, spec, data, str(tmp_path / "s"), log=lines.append)
    again = {r["trial_id"]: r for r in result.rows if "score_mean" in r}
    searched = [r for r in result.rows if r["trial_id"] != "baseline"]
    assert len(searched) == 2 and set(again) == {"baseline", *(r["trial_id"] for r in searched)}
    assert all(r["score_runs"] == 2 for r in again.values())
    means = {tid: r["score_mean"] for tid, r in again.items()}
    assert result.best_trial_id == max(means, key=means.get)
    assert (result.architecture is None) == (result.best_trial_id == "baseline")
    assert any("mean of its re-evaluation runs" in line for line in lines)
