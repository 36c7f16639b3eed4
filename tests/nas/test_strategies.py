"""Each strategy proposes only valid architectures, respects max trials, is deterministic under
a seed and resumes from its saved state; search-level stopping and the constraint filter."""

from __future__ import annotations

import time

import pytest

from nas.encoding import Architecture
from nas.spaces import get_space
from nas.strategies import STRATEGIES, make_oracle
from tests.nas.conftest import OBJECTIVE, SPECS, drive, oracle_in

# Every strategy, plus the surrogate filter in front of two of them.
VARIANTS = sorted(STRATEGIES) + ["random+surrogate", "evolution+surrogate"]
SMALL = {
    "evolution": {"population_size": 4, "sample_size": 2},
    # Enough brackets that max_trials, not Hyperband's own schedule, ends the search.
    "hyperband": {"hyperband_iterations": 10},
}


def oracle_for(variant, space, tmp_path, name="p", max_trials=12, seed=7, **kw):
    strategy, _, filt = variant.partition("+")
    o = oracle_in(
        tmp_path,
        strategy,
        space,
        name,
        max_trials=max_trials,
        seed=seed,
        epochs=4,
        surrogate=bool(filt),
        options=SMALL.get(strategy),
        **kw,
    )
    if filt:
        o.min_history, o.pool_size = 3, 8
    return o


def archs(space, trials):
    return [space.architecture(t.hyperparameters.values) for t in trials]


@pytest.mark.parametrize("variant", VARIANTS)
def test_valid_bounded_and_deterministic(variant, tmp_path):
    space = get_space("chain", SPECS["tabular"])
    first = drive(oracle_for(variant, space, tmp_path, "a"), 100)
    assert len(first) == 12, "max_trials not respected"
    for arch in archs(space, first):
        space.validate(arch)
    second = drive(oracle_for(variant, space, tmp_path, "b"), 100)
    assert [a.to_json() for a in archs(space, first)] == [a.to_json() for a in archs(space, second)]
    other = drive(oracle_for(variant, space, tmp_path, "c", seed=8), 100)
    if variant != "grid":  # the grid's order does not depend on the seed
        assert archs(space, first) != archs(space, other)


@pytest.mark.parametrize("variant", VARIANTS)
def test_resumes_from_saved_state(variant, tmp_path):
    """Stop after 5 trials, build a fresh oracle on the same directory, reload, go on: the same
    12 architectures as an uninterrupted run."""
    space = get_space("chain", SPECS["tabular"])
    whole = archs(space, drive(oracle_for(variant, space, tmp_path, "whole"), 100))
    part = drive(oracle_for(variant, space, tmp_path, "split"), 5)
    resumed = oracle_for(variant, space, tmp_path, "split")
    resumed.reload()
    assert len(resumed.trials) == 5
    rest = drive(resumed, 100)
    assert [a.to_json() for a in archs(space, part + rest)] == [a.to_json() for a in whole]


def test_hyperband_gets_max_trials():
    space = get_space("chain", SPECS["tabular"])
    o = make_oracle("hyperband", space, objective=OBJECTIVE, max_trials=5, seed=1, epochs=9)
    assert o.max_trials == 5


def test_patience_stops_the_search(tmp_path):
    space = get_space("chain", SPECS["tabular"])
    o = oracle_for("random", space, tmp_path, max_trials=50, patience=3)
    scores = iter([0.5, 0.6, 0.55, 0.58, 0.57, 0.9, 0.9])
    trials = drive(o, 50, reward=lambda v: next(scores))
    assert len(trials) == 5 and "without improvement" in o.stop_reason


def test_time_budget_stops_the_search(tmp_path):
    space = get_space("chain", SPECS["tabular"])
    o = oracle_for("evolution", space, tmp_path, max_trials=50, time_budget_s=0.5)

    def slow(values):
        time.sleep(0.2)
        return 0.5

    trials = drive(o, 50, reward=slow)
    assert 2 <= len(trials) <= 5 and "time budget" in o.stop_reason


@pytest.mark.parametrize("variant", ["random", "evolution", "reinforce", "bayesian"])
def test_parameter_limit_prunes_before_training(variant, tmp_path):
    space = get_space("chain", SPECS["tabular"])

    def limit(arch):
        n = space.count_params(arch)
        return f"{n} > 600" if n > 600 else ""

    o = oracle_for(variant, space, tmp_path, constraint=limit)
    for arch in archs(space, drive(o, 12)):
        assert space.count_params(arch) <= 600


def test_unknown_strategy_and_bad_surrogate_pairing_are_named():
    space = get_space("chain", SPECS["tabular"])
    with pytest.raises(ValueError, match="annealing"):
        make_oracle("annealing", space, objective=OBJECTIVE, max_trials=2, seed=1)
    with pytest.raises(ValueError, match="surrogate"):
        make_oracle("hyperband", space, objective=OBJECTIVE, max_trials=2, seed=1, surrogate=True)


def test_surrogate_trains_its_top_ranked_candidates(tmp_path):
    """With a reward that is a linear function of the encoding, the surrogate's picks beat
    plain random proposals after its warm-up."""
    space = get_space("chain", SPECS["tabular"])

    def linear(values):
        a = Architecture.from_values("chain", values)
        return 0.1 * a.choices["depth"] + (0.3 if a.choices["op_0"] == "gated" else 0.0)

    plain = drive(oracle_for("random", space, tmp_path, "r", max_trials=30), 100, reward=linear)
    filt = drive(
        oracle_for("random+surrogate", space, tmp_path, "s", max_trials=30), 100, reward=linear
    )
    late = slice(8, 30)  # 22 trials: fewer left the comparison to the luck of the draws
    mean = lambda ts: sum(linear(t.hyperparameters.values) for t in ts) / len(ts)  # noqa: E731
    assert mean(filt[late]) > mean(plain[late])


def test_the_time_budget_stops_a_trial_inside_an_epoch(tmp_path):
    """On a big table one epoch can outlast the whole budget: the trial stops at the batch in
    which the budget runs out, and Keras still scores that epoch on the validation rows."""
    import keras
    import numpy as np

    from nas.estimation.budget import Budget

    space = get_space("chain", SPECS["tabular"])
    o = oracle_for("random", space, tmp_path, max_trials=5, time_budget_s=1.0)
    o.started_at = time.time()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.01)

    x, y = np.random.default_rng(0).normal(size=(20_000, 4)), np.zeros(20_000, dtype=int)
    budget = Budget(o, per_epoch=len(y))
    t0 = time.time()
    hist = model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        validation_data=(x[:64], y[:64]),
        callbacks=[Slow(), budget],
        verbose=0,
    )  # 2,500 batches an epoch: 25 s
    assert budget.hit and time.time() - t0 < 10
    assert len(hist.history["val_accuracy"]) == 1  # the interrupted epoch, scored
