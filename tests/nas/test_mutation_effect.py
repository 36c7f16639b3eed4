"""An evolution child is a new network: a mutation never touches a choice the built model
ignores (the width, activation, normalisation or dropout of a pool or identity layer), which
would retrain its parent's network under a new trial id (bench/nas/fresh: two of the three
children on digits seed 22)."""

from __future__ import annotations

import json
import random

import pytest

from nas.encoding import Architecture
from nas.spaces import get_space
from nas.strategies.evolution import mutate
from tests.nas.conftest import SPECS, drive, oracle_in


def network(space, arch: Architecture) -> str:
    """What training sees: the model's layers and wiring, its optimizer, the batch size."""
    model = space.build_model(arch)
    config = model.get_config()
    config.pop("name")  # the architecture's digest
    return json.dumps(
        [config, model.optimizer.get_config(), arch.choices.get("batch_size")],
        sort_keys=True,
        default=str,
    )


def unweighted_parent(space) -> Architecture:
    """Four layers, three of them without weights."""
    image = space.kind != "vector"
    ops = ("identity", "avgpool3", "maxpool3", "conv3") if image else ("identity",) * 3 + ("dense",)
    values = {**space.default().choices, "depth": 4}
    values.update({f"op_{i}": op for i, op in enumerate(ops)})
    return Architecture(space.name, values)


@pytest.mark.parametrize("space_name", ["chain", "graph"])
@pytest.mark.parametrize("spec", ["image", "tabular"])
def test_active_choices_are_those_the_network_reads(space_name, spec):
    space = get_space(space_name, SPECS[spec])
    parent = unweighted_parent(space)
    before = network(space, parent)
    active = set(space.active(parent))
    for i in range(3):
        assert not {f"width_{i}", f"dropout_{i}", f"norm_{i}"} & active
    assert {"op_0", "width_3", "activation_3", "norm_3", "dropout_3"} <= active
    for name in [c.name for c in space.choices()]:
        other = next(v for v in space.choice(name).values if v != parent.choices[name])
        changed = network(space, Architecture(space.name, {**parent.choices, name: other}))
        assert (changed != before) == (name in active), name


def test_mutations_of_a_pooling_parent_build_new_networks():
    space = get_space("chain", SPECS["image"])
    parent = unweighted_parent(space)
    before = network(space, parent)
    for seed in range(40):
        child, changed = mutate(space, parent, random.Random(seed))
        assert network(space, child) != before, f"mutating {changed} left the network as it was"


def test_evolution_children_are_new_networks(tmp_path):
    space = get_space("chain", SPECS["image"])
    o = oracle_in(
        tmp_path,
        "evolution",
        space,
        max_trials=24,
        seed=22,
        options={"population_size": 5, "sample_size": 3},
    )
    trials = drive(o, 24)
    children = [t for t in trials if "nas/parent" in t.hyperparameters.values]
    assert len(children) == 19
    for child in children:
        values = child.hyperparameters.values
        parent_id, changed = values["nas/parent"], values["nas/mutation"]
        parent = space.architecture(o.trials[parent_id].hyperparameters.values)
        assert network(space, space.architecture(values)) != network(space, parent), (
            f"trial {child.trial_id} retrains trial {parent_id}'s network (mutated {changed})"
        )
