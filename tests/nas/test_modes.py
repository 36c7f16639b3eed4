"""Warm starts and the user's own baseline model inside the engine, on digits: seeded
candidates come first and start from their weights; a baseline module competes, is listed, can
win, and a bad one is named."""

from __future__ import annotations

import json
import os
import random

import keras_tuner
import pytest

from nas import baseline
from nas.estimation.fidelity import FULL
from nas.search import run_search, write_outputs
from nas.spaces import get_space
from tests.nas.conftest import EXAMPLE, config, small


def quiet(_line):
    pass


def test_seeds_come_first_and_start_from_the_champions_weights(digits, tmp_path):
    spec, data = small(digits)
    # Seed 6: a champion well above chance (0.53), so "keeps its accuracy" means something.
    first = run_search(
        config(max_trials=2, epochs=2, seed=6), spec, data, str(tmp_path / "a"), log=quiet
    )
    champion = first.architecture
    weights = str(tmp_path / "champion.weights.h5")
    model = get_space("chain", spec).build_model(champion, FULL, compile=False)
    model.load_weights(first.weights_path)  # full fidelity here: the same shapes
    model.save_weights(weights)
    runner_up = next(r for r in first.rows if r["trial_id"] != first.best_trial_id)
    seeds = [
        {"label": "champion", "space": "chain", "choices": champion.choices, "weights": weights},
        {
            "label": "leader-2",
            "space": "chain",
            "choices": json.loads(runner_up["architecture"])["choices"],
        },
        {"label": "other-space", "space": "cells", "choices": {"x": 1}},
    ]
    lines = []
    cfg = config(strategy="evolution", max_trials=3, epochs=1, seeds=seeds)
    warm = run_search(cfg, spec, data, str(tmp_path / "b"), log=lines.append)
    rows = {r["trial_id"]: r for r in warm.rows}
    assert rows["0"]["seed"] == "champion" and rows["0"]["start"].startswith("warm from champion")
    assert json.loads(rows["0"]["architecture"])["choices"] == champion.choices
    assert rows["1"]["seed"] == "leader-2" and rows["1"]["start"] == "scratch"
    assert rows["2"]["seed"] is None  # the strategy's own from here
    assert any("'other-space' is from space 'cells'" in line for line in lines)
    # One more epoch from the champion's weights keeps (about) its accuracy.
    assert rows["0"]["score"] >= first.best_score - 0.02


def test_a_baseline_module_competes_and_is_listed(digits, tmp_path):
    spec, data = small(digits, image=False)
    cfg = config(max_trials=2, epochs=2, baseline_module=EXAMPLE)
    result = run_search(cfg, spec, data, str(tmp_path / "s"), log=quiet)
    paths = write_outputs(result, str(tmp_path / "out"))
    board = json.loads(open(paths["leaderboard_json"]).read())
    mine = next(r for r in board if r["trial_id"] == "baseline")
    assert mine["summary"] == "your model: baseline_model.py" and mine["score"] > 0.5
    assert mine["examples_seen"] == 2 * 600  # the candidates' data and epochs
    assert result.best_trial_id == board[0]["trial_id"]  # whoever scores best wins
    assert len(board) == 3


def test_the_baseline_wins_and_rebuilds_from_its_hyperparameters(digits, tmp_path):
    spec, data = small(digits, image=False)
    # Every candidate breaks a 10-parameter limit, so only the baseline trains.
    cfg = config(max_trials=2, epochs=1, max_params=10, baseline_module=EXAMPLE)
    result = run_search(cfg, spec, data, str(tmp_path / "s"), log=quiet)
    assert result.best_trial_id == "baseline" and result.architecture is None
    paths = write_outputs(result, str(tmp_path / "out"))
    hp = keras_tuner.HyperParameters.from_config(
        json.loads(open(paths["best_hyperparameters"]).read())
    )
    assert baseline.module_of(hp.values) == EXAMPLE and hp.values["units"] == 32
    model, _ = baseline.build(EXAMPLE, spec, hp)
    model.load_weights(paths["weights"])
    mine = next(r for r in result.rows if r["trial_id"] == "baseline")
    assert model.count_params() == mine["params"]


def test_a_bad_baseline_module_is_named(digits, tmp_path):
    spec, data = small(digits, image=False)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    cases = {
        str(tmp_path / "missing.py"): "is not a file",
        str(empty): r"has no build_model\(hp, input_spec\) function",
    }
    for path, message in cases.items():
        cfg = config(max_trials=1, epochs=1, baseline_module=path)
        with pytest.raises(baseline.BaselineError, match=message):
            run_search(cfg, spec, data, str(tmp_path / "state" / os.path.basename(path)), log=quiet)


def test_strategies_that_order_their_own_candidates_say_they_ignore_seeds(digits, tmp_path):
    spec, data = small(digits, image=False)
    seed = {
        "label": "champion",
        "space": "chain",
        "choices": get_space("chain", spec).default().choices,
    }
    lines = []
    cfg = config(strategy="grid", max_trials=1, epochs=1, seeds=[seed])
    result = run_search(cfg, spec, data, str(tmp_path), log=lines.append)
    assert any(line.startswith("NAS seeds ignored: the grid strategy") for line in lines)
    assert result.rows[0]["seed"] is None


def test_warm_config_seeds_the_champion_and_one_new_leader_with_a_quarter_of_the_trials(digits):
    from components.nas_tuner import modes

    spec, _ = small(digits, image=False)
    space = get_space("chain", spec)
    champ = space.default()
    other = space.sample(random.Random(1))
    hp = keras_tuner.HyperParameters()
    for k, v in champ.choices.items():
        hp.Fixed(k, v)
    hp.Fixed("nas/space", "chain")
    leaders = [
        {"trial_id": "3", "architecture": champ.to_json()},  # the champion again
        {"trial_id": "5", "architecture": other.to_json()},
        {"trial_id": "7", "architecture": space.sample(random.Random(2)).to_json()},
    ]
    cfg = modes.warm_config(config(max_trials=12), (hp.get_config(), "w.h5"), leaders, quiet)
    assert [s["label"] for s in cfg.seeds] == ["champion", "leader-5"]
    assert cfg.seeds[0]["weights"] == "w.h5" and cfg.seeds[1]["choices"] == other.choices
    assert cfg.max_trials == 3
    # A champion that is the user's baseline competes as the baseline, not as a seed.
    mine = baseline.winner_hyperparameters(EXAMPLE, keras_tuner.HyperParameters())
    cfg = modes.warm_config(config(max_trials=2), (mine.get_config(), "w.h5"), leaders, quiet)
    assert cfg.baseline_module == EXAMPLE and [s["label"] for s in cfg.seeds] == ["leader-3"]
