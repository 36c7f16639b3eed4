"""Whole searches on small real data (digits, 8x8 images): outputs, MLflow logging, pruning,
estimators inside the trial runner, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import os
import random

import pytest

from components.nas_tuner.tracking import Tracker
from nas.config import SearchConfig
from nas.data import ArrayData
from nas.inputs import from_arrays
from nas.search import run_search, write_outputs
from tests.nas.conftest import config, small


def test_search_logs_every_trial_and_writes_a_report(digits, tmp_path):
    spec, data = small(digits)
    state = tmp_path / "state"
    tracker = Tracker(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "nas-test",
        str(state),
        "search",
        artifact_location=str(tmp_path / "artifacts"),
    )
    lines = []
    result = run_search(config(), spec, data, str(state), tracker=tracker, log=lines.append)
    out = tmp_path / "out"
    paths = write_outputs(result, str(out))
    tracker.finish(str(out), {"best_score": result.best_score})

    trial_lines = [line for line in lines if line.startswith("NAS trial ")]
    runs = tracker.trial_runs()
    board = json.loads(open(paths["leaderboard_json"]).read())
    assert len(trial_lines) == len(board) == len(runs) == 4
    assert all(
        "strategy=random" in line and "ETA" in line and "best=" in line for line in trial_lines
    )
    html = open(paths["report"]).read()
    assert html.count("<svg") == 2
    assert "Best so far against compute" in html and "Pareto front" in html
    assert sum(r["pareto"] for r in board) >= 1
    assert board[0]["rank"] == 1 and board[0]["score"] == result.best_score
    for row in board:
        assert row["architecture"] and row["params"] > 0 and row["examples_seen"] == 2 * 600
        # Logged from what ran: each epoch a pass over the 600 training rows (ceil(600 / 32)
        # steps), scored on all 200 validation rows.
        assert (row["steps_per_epoch"], row["rows_per_epoch"]) == (19, 600)
        assert row["validation_rows"] == 200
        # The score's standard error over those 200 rows, and the tie-break's loss.
        p = row["score"]
        assert row["score_se"] == pytest.approx((p * (1 - p) / 200) ** 0.5)
        assert row["val_loss"] > 0 and 1 <= row["best_epoch"] <= 2
        assert f"score={p:.4f}±{row['score_se']:.4f}" in "".join(trial_lines)
    for run in runs:  # the tracker's per-epoch history has them too
        for key, want in (("rows_per_epoch", 600), ("validation_rows", 200)):
            history = tracker.client.get_metric_history(run.info.run_id, key)
            assert [m.value for m in history] == [want, want], key
    arch = json.loads(open(paths["best_architecture"]).read())
    assert arch["space"] == "chain" and arch["choices"] == result.architecture.choices
    hp = json.loads(open(paths["best_hyperparameters"]).read())
    assert hp["values"]["nas/space"] == "chain"
    assert os.path.getsize(paths["weights"]) > 0
    trial_params = runs[0].data.params
    assert any(k.startswith("arch.") for k in trial_params)
    assert not os.path.exists(state / "search" / "trial_0" / "inflight.json")


def test_regression_gets_a_linear_head_and_ranks_the_lowest_rmse_first(tmp_path, monkeypatch):
    import numpy as np

    from components.nas_tuner import tf_engine
    from core import tflite

    tf_engine.install()  # the "tflite" latency is the pipeline's, registered with the engine
    timed = []  # a spy: the real TFLite timing, counted
    real = tflite.model_latency_ms
    monkeypatch.setattr(tflite, "model_latency_ms", lambda m, b: timed.append(m.name) or real(m, b))

    from nas.build import build_oracle

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 1)).astype("float32")
    b = rng.integers(0, 4, (500, 1)).astype("int64")
    y = (30 * x[:, 0] + 5 * b[:, 0] + rng.normal(size=500)).astype("float32")
    spec = from_arrays({"x": x, "b": b}, 1, vocab={"b": 4}, task="regression")
    spec = dataclasses.replace(spec, target_mean=float(y.mean()), target_std=float(y.std()))
    data = ArrayData(
        ({"x": x[:400], "b": b[:400]}, y[:400]), ({"x": x[400:], "b": b[400:]}, y[400:])
    )
    # latency as an edge device sees it: each candidate timed as a dynamic-range TFLite model
    cfg = config(task="regression", max_trials=3, epochs=3, latency="tflite", max_latency_ms=1e3)
    assert (cfg.objective, spec.task) == ("val_rmse", "regression")
    _, space, oracle = build_oracle(cfg, spec)
    assert oracle.objective.direction == "min"
    model = space.build_model(space.sample(random.Random(0)))
    head = model.get_layer("head")
    assert model.output.shape[-1] == 1 and head.activation.__name__ == "linear"
    assert model.layers[-1].name == "target_scale"  # standard units back to the label's

    result = run_search(cfg, spec, data, str(tmp_path / "state"), log=lambda _: None)
    board = json.loads(
        open(write_outputs(result, str(tmp_path / "out"))["leaderboard_json"]).read()
    )
    scores = [r["score"] for r in board if r["score"] is not None]
    assert scores == sorted(scores) and scores[0] == result.best_score  # lowest RMSE first
    assert all(r["latency_ms"] > 0 for r in board) and len(timed) == len(board)
    assert 0 < result.best_score < float(np.std(y))  # it learned something
    with pytest.raises(ValueError, match="task 'ranking'"):
        config(task="ranking")


def test_parameter_limit_prunes_and_low_fidelity_shrinks_compute(digits, tmp_path):
    spec, data = small(digits)
    cfg = config(
        max_params=3000,
        max_trials=5,
        search_fidelity={"data_fraction": 0.5, "epochs": 1, "width": 0.5},
    )
    result = run_search(cfg, spec, data, str(tmp_path), log=lambda _: None)
    done = [r for r in result.rows if r["status"] == "completed"]
    assert done and all(r["params"] <= 3000 for r in done)
    assert all(r["epochs"] == 1 and r["examples_seen"] == 300 for r in done)
    assert all("data=0.5" in r["fidelity"] and "width=0.5" in r["fidelity"] for r in done)


def test_evolution_children_inherit_or_morph_inside_the_runner(digits, tmp_path):
    spec, data = small(digits, image=False)
    cfg = config(
        strategy="evolution",
        max_trials=7,
        epochs=1,
        strategy_options={"population_size": 3, "sample_size": 2},
        inherit_weights=True,
    )
    result = run_search(cfg, spec, data, str(tmp_path), log=lambda _: None)
    children = [r for r in result.rows if r["parent"] is not None]
    assert children and all(r["start"].startswith("inherited") for r in children)


def test_hyperband_promotions_continue_from_their_parent(digits, tmp_path):
    spec, data = small(digits, image=False)
    cfg = config(strategy="hyperband", max_trials=6, epochs=3, inherit_weights=True)
    result = run_search(cfg, spec, data, str(tmp_path), log=lambda _: None)
    assert len(result.rows) <= 6
    promoted = [r for r in result.rows if r["parent"] is not None]
    for r in promoted:
        assert r["start"].startswith("inherited")


def test_successive_halving_and_the_compute_budget_stop_trials_and_the_search(digits, tmp_path):
    spec, data = small(digits, image=False)
    budget = 8 * 600  # eight epochs of the 600 training examples
    cfg = config(
        max_trials=50,
        epochs=3,
        compute_budget=budget,
        successive_halving=True,
        halving_rungs=[1, 2],
        halving_eta=2,
    )
    lines = []
    result = run_search(cfg, spec, data, str(tmp_path), log=lines.append)
    rows = result.rows
    assert sum(r["examples_seen"] for r in rows) == budget
    assert "compute budget (4,800 example-epochs) spent" in result.stop_reason
    assert rows[0]["epochs"] == 3  # the first trial has nothing to lose to
    stopped = [r for r in rows if r["early_stopped"]]
    assert stopped and len(rows) > budget // (3 * 600)  # cheaper trials: more of them
    halved = [r for r in stopped if r["stopped_by"] != "budget"]
    assert halved and all(
        r["stopped_by"] == f"halving at epoch {r['epochs']}" and r["epochs"] in (1, 2)
        for r in halved
    )
    assert all(r["epochs"] in (1, 2, 3) for r in rows)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"space": "tree"}, "space 'tree'"),
        ({"strategy": "annealing"}, "strategy 'annealing'"),
        ({"max_trials": 0}, "max_trials"),
        ({"search_fidelity": {"width": 2}}, "width=2"),
        ({"curves": True}, "curves"),
        ({"colour": 1}, "colour"),
        ({"compute_budget": -1}, "compute_budget"),
        ({"halving_eta": 1}, "halving_eta"),
        ({"halving_rungs": [0]}, "halving_rungs"),
    ],
)
def test_bad_config_is_named(raw, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig.from_dict(raw)


def test_row_fidelity_trains_each_rung_on_its_share_of_the_rows(digits, tmp_path):
    from nas.estimation.halving import row_fractions

    assert row_fractions((1, 3), (1 / 9, 1 / 3), 5) == [1 / 9, 1 / 3, 1 / 3, 1.0, 1.0]
    assert row_fractions((3,), (1 / 9, 1 / 3), 4) == [1 / 9, 1 / 9, 1 / 9, 1.0]
    assert config(row_fidelity="auto").row_fidelity_on(100_000)
    assert not config(row_fidelity="auto").row_fidelity_on(99_999)
    with pytest.raises(ValueError, match="halving_row_fractions"):
        config(halving_row_fractions=[0.5, 0.2])
    spec, data = small(digits, n_train=900, image=False)
    cfg = config(max_trials=5, epochs=4, row_fidelity="on", halving_eta=2)
    result = run_search(cfg, spec, data, str(tmp_path), log=lambda _: None)
    store = tmp_path / "search"
    for row in result.rows:
        history = json.loads((store / f"trial_{row['trial_id']}" / "result.json").read_text())
        rows = history["history"]["rows_per_epoch"]
        assert rows == [100, 300, 300, 900][: row["epochs"]], rows  # 1/9, 1/3 to rung 3, all
        assert row["examples_seen"] == sum(rows)
        assert "rows 1/9 to epoch 1, 1/3 to 3" in row["fidelity"]
    assert result.rows[0]["epochs"] == 4  # the first trial has nothing to lose to
    assert any(r["stopped_by"] == "halving at epoch 1" for r in result.rows)
