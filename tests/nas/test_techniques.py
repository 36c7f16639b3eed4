"""Evolution, the REINFORCE controller, morphism, inheritance, curve-based early stopping and
mixed precision, each on its own."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

from nas.encoding import Architecture
from nas.estimation import curve, halving, inherit, morph
from nas.spaces import get_space
from nas.strategies import make_oracle
from nas.strategies.controller import Controller
from nas.strategies.evolution import mutate
from tests.nas.conftest import OBJECTIVE, SPECS, batch, drive, oracle_in


@pytest.mark.parametrize("space_name", ["chain", "graph", "cells"])
def test_evolution_children_differ_from_their_parent_in_exactly_one_choice(space_name, tmp_path):
    space = get_space(space_name, SPECS["tabular"])
    o = oracle_in(
        tmp_path,
        "evolution",
        space,
        max_trials=40,
        seed=3,
        options={"population_size": 6, "sample_size": 3},
    )
    trials = drive(o, 40)
    children = [t for t in trials if "nas/parent" in t.hyperparameters.values]
    assert len(children) >= 30
    for child in children:
        values = child.hyperparameters.values
        parent = o.trials[values["nas/parent"]]
        diff = space.architecture(values).diff(space.architecture(parent.hyperparameters.values))
        assert diff == [values["nas/mutation"]], diff
    assert len(o.population) == 6


def test_evolution_removal_and_crossover(tmp_path):
    space = get_space("chain", SPECS["tabular"])
    o = oracle_in(
        tmp_path,
        "evolution",
        space,
        max_trials=30,
        seed=5,
        options={"population_size": 5, "sample_size": 2, "removal": "worst", "crossover_rate": 1.0},
    )
    trials = drive(o, 30)
    scores = sorted((t.score for t in trials), reverse=True)
    # Removing the worst keeps the five best trials seen so far.
    assert sorted((o.trials[t].score for t in o.population), reverse=True) == scores[:5]
    assert any("nas/parent2" in t.hyperparameters.values for t in trials)
    with pytest.raises(ValueError, match="removal"):
        make_oracle(
            "evolution",
            space,
            objective=OBJECTIVE,
            max_trials=3,
            seed=1,
            options={"removal": "random"},
        )


def test_mutation_only_touches_active_choices():
    space = get_space("chain", SPECS["tabular"])
    rng = random.Random(0)
    parent = Architecture("chain", {**space.default().choices, "depth": 1})
    for _ in range(200):
        child, changed = mutate(space, parent, rng)
        assert changed in space.active(parent)
        assert parent.diff(child) == [changed]


def test_reinforce_controller_learns_the_rewarded_token():
    """Three decisions of four tokens each; only the second decision's token 2 pays."""
    c = Controller([4, 4, 4], seed=0)
    rng = np.random.default_rng(0)
    first = c.probabilities(c.sample(rng))
    assert np.allclose(first[1], 0.25)
    prob, updates = 0.25, 0
    while prob < 0.8 and updates < 300:
        tokens = c.sample(rng)
        c.update(tokens, 1.0 if tokens[1] == 2 else 0.0)
        updates += 1
        prob = c.probabilities(tokens)[1][2]
    assert prob >= 0.8, f"p(rewarded token) = {prob:.3f} after {updates} updates"


def test_reinforce_oracle_state_round_trips(tmp_path):
    space = get_space("chain", SPECS["tabular"])
    o = oracle_in(tmp_path, "reinforce", space, max_trials=6, seed=2)
    drive(o, 6)
    state = o.get_state()
    assert state["controller"]["step"] == 6 and state["updates"]


def _chain(space, **layers):
    c = dict(space.default().choices)
    c.update(
        depth=2,
        op_0="dense",
        op_1="dense",
        width_0=16,
        width_1=8,
        activation_0="relu",
        activation_1="relu",
        norm_0="batch",
        norm_1="none",
        dropout_0=0.1,
        dropout_1=0.0,
    )
    c.update(layers)
    return Architecture("chain", c)


def _train_a_little(model, spec):
    x = batch(spec, 64, seed=1)
    y = np.random.default_rng(1).integers(0, spec.n_outputs, 64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # non-trivial weights and BN stats


@pytest.mark.parametrize("op", ["widen:0", "widen:1", "deepen:2"])
def test_morphism_preserves_the_function(op):
    space = get_space("chain", SPECS["tabular"])
    parent_arch = _chain(space)
    parent = space.build_model(parent_arch)
    _train_a_little(parent, SPECS["tabular"])
    c = dict(parent_arch.choices)
    kind, i = op.split(":")
    i = int(i)
    if kind == "widen":
        c[f"width_{i}"] = 32
    else:
        c.update(
            depth=3,
            **{
                f"op_{i}": "dense",
                f"width_{i}": 8,
                f"activation_{i}": "relu",
                f"norm_{i}": "none",
                f"dropout_{i}": 0.0,
            },
        )
    child_arch = Architecture("chain", c)
    child = space.build_model(child_arch)
    assert child.count_params() > parent.count_params()
    morph.transfer(parent, child, child_arch, op, seed=0)
    x = batch(SPECS["tabular"], 32, seed=2)
    np.testing.assert_allclose(
        np.asarray(child(x, training=False)), np.asarray(parent(x, training=False)), atol=1e-5
    )


def test_morph_child_proposes_widen_or_deepen():
    space = get_space("chain", SPECS["tabular"])
    parent = _chain(space)
    ops = set()
    for seed in range(20):
        child, op = morph.morph_child(space, parent, random.Random(seed))
        ops.add(op.split(":")[0])
        assert child.choices != parent.choices
    assert ops == {"widen", "deepen"}
    assert morph.morph_child(get_space("cells", SPECS["tabular"]), parent, random.Random(0)) is None


def test_weight_inheritance_copies_the_parents_weights():
    space = get_space("chain", SPECS["tabular"])
    parent_arch = _chain(space)
    parent = space.build_model(parent_arch)
    _train_a_little(parent, SPECS["tabular"])
    child_arch = Architecture("chain", {**parent_arch.choices, "width_1": 32})
    child = space.build_model(child_arch)
    copied = inherit.copy_matching(parent, child)
    assert "layer0_dense" in copied and "layer0_bn" in copied and "b_embed" in copied
    assert "layer1_dense" not in copied and "head" not in copied  # shapes changed
    by_name = {layer.name: layer for layer in parent.layers}
    for name in copied:
        for a, b in zip(
            child.get_layer(name).get_weights(), by_name[name].get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def _curve(final, speed, noise, rng, epochs=20):
    """A noisy saturating curve that reaches `final` at the last epoch."""
    t = np.arange(1, epochs + 1)
    return list(final - 0.5 * (t**-speed - epochs**-speed) + rng.normal(0, noise, epochs))


def _stopped_at(values, target, epochs=20):
    stopper = curve.CurveStopper("val_accuracy", target, epochs)
    stopper.set_model(keras.Sequential())
    for e, v in enumerate(values):
        stopper.on_epoch_end(e, {"val_accuracy": v})
        if stopper.stopped_epoch is not None:
            return stopper.stopped_epoch
    return None


def test_curve_stops_a_clearly_worse_trial_early():
    rng = np.random.default_rng(0)
    for _ in range(20):
        worse = _curve(0.6, 1.0, 0.01, rng)
        at = _stopped_at(worse, target=0.9)
        assert at is not None and at <= 5, at


def test_curve_rarely_stops_a_trial_that_ends_up_best():
    """100 curves that finish above the best so far (0.85), at varied speeds."""
    rng = np.random.default_rng(1)
    stopped, n = 0, 100
    for _ in range(n):
        values = _curve(rng.uniform(0.86, 0.97), rng.uniform(0.3, 1.5), 0.01, rng)
        stopped += _stopped_at(values, target=0.85) is not None
    assert stopped <= 5, f"{stopped} of {n} eventual winners stopped"


def test_mixed_precision_computes_in_float16_and_outputs_float32():
    from nas import device

    info = device.configure(mixed_precision=True)
    try:
        assert info.policy == "mixed_float16"
        space = get_space("chain", SPECS["tabular"])
        model = space.build_model(_chain(space))
        assert model.get_layer("layer0_dense").compute_dtype == "float16"
        assert model.get_layer("layer0_dense").variable_dtype == "float32"
        out = model(batch(SPECS["tabular"]), training=False)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        device.configure(mixed_precision=False)
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_device_falls_back_to_cpu_here():
    from nas import device

    info = device.configure(mixed_precision="auto")
    assert info.gpus == [] and info.policy == "float32" and info.strategy is None
    assert "CPU" in info.describe()


def test_successive_halving_keeps_the_top_third_at_each_rung():
    assert halving.keeps(0.5, [], eta=3)  # the first trial at a rung always continues
    assert not halving.keeps(0.5, [0.6], eta=3)  # one earlier trial: only the best goes on
    assert halving.keeps(0.7, [0.6], eta=3)
    assert halving.keeps(0.55, [0.6, 0.4, 0.3, 0.2, 0.1], eta=3)  # 2nd of 6: top 2 go on
    assert not halving.keeps(0.35, [0.6, 0.4, 0.3, 0.2, 0.1], eta=3)
    assert halving.keeps(0.1, [0.3, 0.2], eta=3, maximize=False)  # a loss: lower is better
    scores = halving.rung_scores([[0.2, 0.5, 0.4], [0.3], [0.1, 0.2, 0.6, 0.7]], (1, 3))
    assert scores == {1: [0.2, 0.3, 0.1], 3: [0.5, 0.6]}

    stopper = halving.RungStopper("val_accuracy", (1, 3), scores, eta=3)
    stopper.set_model(keras.Sequential())
    for e, v in enumerate([0.35, 0.4, 0.45, 0.9]):  # top at rung 1, 3rd of 3 at rung 3
        stopper.on_epoch_end(e, {"val_accuracy": v})
        if stopper.stopped_epoch:
            break
    assert stopper.stopped_epoch == 3
