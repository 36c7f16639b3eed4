"""The stages space (downsampling stages of conv, separable, residual or inverted-bottleneck
blocks, squeeze-excitation, GAP or flatten head, weight decay and a learning-rate schedule):
it holds networks of the size that does well on signals and images, every choice changes the
model it should, and evolution, inheritance and the `auto` default work on it."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

from nas.config import SearchConfig
from nas.encoding import Architecture
from nas.estimation.inherit import copy_matching
from nas.search import run_search, write_outputs
from nas.spaces import get_space
from nas.spaces.stages import MAX_WIDTH
from nas.strategies.evolution import mutate
from tests.nas.conftest import SPECS, batch, config, small


def arch_of(space, **choices) -> Architecture:
    return Architecture("stages", {**space.default().choices, **choices})


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("kind", ["signal", "image"])
def test_the_deepest_widest_network_downsamples_in_stages(kind):
    spec = SPECS[kind]
    space = get_space("stages", spec)
    arch = arch_of(space, stages=4, blocks=3, width=64, growth=2, block_0="conv")
    arch.choices.update({f"block_{s}": "conv" for s in range(4)})
    assert space.widths(arch) == [64, 128, 256, 256] and MAX_WIDTH == 256
    model = space.build_model(arch)
    convs = [n for n in layer_types(model) if n.startswith("Conv")]
    assert len(convs) >= 13  # the stem and 4 x 3 blocks
    # Every stage after the first halves the spatial size: 16 -> 2, 8x8 -> 1x1.
    body_out = model.get_layer(f"{spec.features[0].name}_gap").input
    assert max(body_out.shape[1:-1]) == max(spec.features[0].shape[:-1]) // 8
    assert model.output.shape[-1] == spec.n_outputs


@pytest.mark.parametrize(
    "block,layer",
    [
        ("separable", "SeparableConv"),
        ("residual", "Add"),
        ("inverted", "DepthwiseConv"),
    ],
)
def test_each_block_type_builds_its_layers(block, layer):
    for kind in ("signal", "image"):
        space = get_space("stages", SPECS[kind])
        model = space.build_model(arch_of(space, stages=2, blocks=2, block_0=block, block_1=block))
        assert any(n.startswith(layer) for n in layer_types(model)), (kind, block)
        out = model(batch(SPECS[kind]), training=False)
        assert np.isfinite(np.asarray(out)).all()


def test_squeeze_excitation_head_dropout_and_training_choices():
    space = get_space("stages", SPECS["image"])
    plain = space.build_model(arch_of(space, se=0, head="gap", dropout=0.0))
    assert "Multiply" not in layer_types(plain) and "Flatten" not in layer_types(plain)
    model = space.build_model(
        arch_of(
            space,
            se=1,
            head="flatten",
            dropout=0.3,
            optimizer="adam",
            weight_decay=0.01,
            schedule="onecycle",
            learning_rate=0.003,
        ),
        steps=100,
    )
    kinds = layer_types(model)
    assert "Multiply" in kinds and "Flatten" in kinds and "Dropout" in kinds
    assert model.get_layer("i_head_dense").units == 128
    opt = model.optimizer
    assert opt.weight_decay == pytest.approx(0.01)
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    # One-cycle: a tenth of the rate at the start, the full rate after the warm-up, ~0 at the end.
    assert float(schedule(0)) == pytest.approx(0.0003, rel=1e-3)
    assert float(schedule(30)) == pytest.approx(0.003, rel=1e-3)
    assert float(schedule(100)) < 1e-5
    cosine = space.build_model(arch_of(space, schedule="cosine", learning_rate=0.01), steps=50)
    assert float(cosine.optimizer._learning_rate(25)) == pytest.approx(0.005, rel=1e-3)
    constant = space.build_model(arch_of(space, schedule="cosine"))  # no steps: constant
    assert not callable(constant.optimizer._learning_rate)


def test_mutants_inherit_their_parents_weights_and_widths_grow():
    space = get_space("stages", SPECS["signal"])
    rng = random.Random(5)
    parent = space.sample(rng)
    parent_model = space.build_model(parent, compile=False)
    for _ in range(10):
        child, changed = mutate(space, parent, rng)
        assert child.diff(parent) == [changed] and changed in space.active(parent)
        child_model = space.build_model(child, compile=False)
        copied = copy_matching(parent_model, child_model)
        assert copied, f"nothing inherited after changing {changed}"
    # Inactive stage choices (stages beyond `stages`) are never what a mutation changes.
    one = arch_of(space, stages=1)
    assert not any(n.startswith(("block_1", "kernel_3")) for n in space.active(one))
    assert space.widths(arch_of(space, stages=3, width=32, growth=2)) == [32, 64, 128]
    assert space.widths(arch_of(space, stages=3, width=32, growth=1)) == [32, 32, 32]


def test_auto_is_stages_for_tensors_and_chain_for_tables():
    assert SearchConfig().space == "auto"
    assert SearchConfig().resolved(SPECS["image"]).space == "stages"
    assert SearchConfig().resolved(SPECS["mixed"]).space == "stages"
    assert SearchConfig().resolved(SPECS["tabular"]).space == "chain"
    assert SearchConfig(space="graph").resolved(SPECS["image"]).space == "graph"
    assert get_space("auto", SPECS["signal"]).name == "stages"


def test_an_evolution_search_on_images_with_the_default_space(digits, tmp_path):
    """The `auto` default resolves to stages; evolution with morphism (which falls back to
    mutation here) and weight inheritance run, and the outputs name the resolved space."""
    spec, data = small(digits, n_train=300, n_val=100)
    cfg = config(
        space="auto",
        strategy="evolution",
        max_trials=4,
        epochs=2,
        inherit_weights=True,
        morphism=True,
        strategy_options={"population_size": 2, "sample_size": 1},
    )
    keras.backend.clear_session()
    result = run_search(cfg, spec, data, str(tmp_path / "s"), log=lambda _l: None)
    assert result.config.space == "stages" and result.architecture.space == "stages"
    # The first trial is the hand-written CNN's shape, then the strategy's own.
    first = result.rows[0]
    assert first["seed"] == "first" and "1xconv64k3 > 1xconv64k3 > 1xconv64k3" in first["summary"]
    assert Architecture.from_json(first["architecture"]) == get_space("stages", spec).first()
    assert all(r["seed"] is None for r in result.rows[1:])
    children = [r for r in result.rows if r["parent"]]
    assert children and all(r["start"].startswith("inherited") for r in children), [
        r["start"] for r in result.rows
    ]
    paths = write_outputs(result, str(tmp_path / "out"))
    with open(paths["search_config"]) as f:
        assert '"space": "stages"' in f.read()
