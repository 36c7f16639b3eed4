"""Each space builds on every input kind, serialises, and rebuilds to an identical model."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nas.encoding import Architecture, EncodingError
from nas.estimation.fidelity import Fidelity
from nas.inputs import from_arrays, infer_feature
from nas.spaces import SPACES, get_space
from tests.nas.conftest import SPECS, batch


@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_space_builds_serialises_and_rebuilds_identically(space_name, kind):
    spec = SPECS[kind]
    if space_name == "stages" and kind == "tabular":
        with pytest.raises(ValueError, match="signal and image features.*chain, graph or cells"):
            get_space(space_name, spec)
        return
    space = get_space(space_name, spec, seed=3)
    rng = random.Random(7)
    for _ in range(3):
        arch = space.sample(rng)
        model = space.build_model(arch)
        text = arch.to_json()
        again = Architecture.from_json(text)
        assert again == arch and again.to_json() == text
        rebuilt = space.build_model(again)
        assert rebuilt.count_params() == model.count_params()
        rebuilt.set_weights(model.get_weights())
        x = batch(spec)
        np.testing.assert_allclose(
            np.asarray(model(x, training=False)), np.asarray(rebuilt(x, training=False)), atol=1e-6
        )
        assert model.output.shape[-1] == spec.n_outputs


@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_training_choices_are_in_every_space(space_name):
    spec = SPECS["image" if space_name == "stages" else "tabular"]
    names = {c.name for c in get_space(space_name, spec).choices()}
    assert {"optimizer", "learning_rate", "initializer"} <= names


def test_tensor_inputs_use_convolutions_and_tabular_dense():
    space = get_space("chain", SPECS["signal"])
    assert set(space.choice("op_0").values) >= {"conv3", "sepconv3", "maxpool3"}
    assert set(get_space("chain", SPECS["tabular"]).choice("op_0").values) >= {"dense"}
    arch = Architecture("chain", {**space.default().choices, "op_0": "conv3", "depth": 1})
    layers = [type(x).__name__ for x in space.build_model(arch).layers]
    assert "Conv1D" in layers
    img = get_space("chain", SPECS["image"])
    layers = [type(x).__name__ for x in img.build_model(img.default()).layers]
    assert "Conv2D" in layers


def test_graph_space_wires_skips_and_branches():
    space = get_space("graph", SPECS["tabular"])
    c = dict(space.default().choices)
    c.update(depth=3, op_0="dense", op_1="dense", op_2="dense")
    c.update({"in_1_0": 1, "in_2_s": 1, "in_2_0": 1, "in_2_1": 0})
    arch = Architecture("graph", c)
    assert space.feeds(arch, 2) == ["s", "0"]
    names = [layer.name for layer in space.build_model(arch).layers]
    assert "layer2_in" in names  # concatenation of the stem and layer 0
    assert "branches" in names  # layers 1 and 2 are both loose ends


def test_cells_knobs_change_the_network():
    space = get_space("cells", SPECS["image"])
    base = space.default()
    small = space.count_params(Architecture("cells", {**base.choices, "cells": 1}))
    big = space.count_params(Architecture("cells", {**base.choices, "cells": 3}))
    wide = space.count_params(Architecture("cells", {**base.choices, "cells": 1, "filters": 32}))
    assert small < big and small < wide
    # Nodes that read the previous cell (input 1) chain the cells together.
    linked = {**base.choices, "cells": 2, "normal_0_in_a": 1, "reduce_0_in_a": 1}
    names = [layer.name for layer in space.build_model(Architecture("cells", linked)).layers]
    assert any(n.startswith("i_reduce0") for n in names)


def test_lower_fidelity_makes_smaller_models():
    arch = Architecture(
        "cells", {**get_space("cells", SPECS["image"]).default().choices, "cells": 3}
    )
    full = get_space("cells", SPECS["image"]).count_params(arch)
    for fid in (Fidelity(width=0.5), Fidelity(fewer_cells=2)):
        assert get_space("cells", SPECS["image"], fidelity=fid).count_params(arch) < full
    low_res = get_space("chain", SPECS["image"], fidelity=Fidelity(resolution=0.5))
    names = [layer.name for layer in low_res.build_model(low_res.default()).layers]
    assert "i_lowres" in names


@pytest.mark.parametrize(
    "change, message",
    [
        ({"depth": 9}, "depth"),
        ({"op_0": "lstm"}, "op_0"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_encodings_are_named(change, message):
    space = get_space("chain", SPECS["tabular"])
    choices = {**space.default().choices, **change}
    with pytest.raises(EncodingError, match=message):
        space.validate(Architecture("chain", choices))
    missing = dict(space.default().choices)
    del missing["width_2"]
    with pytest.raises(EncodingError, match="width_2"):
        space.validate(Architecture("chain", missing))
    with pytest.raises(EncodingError, match="space"):
        space.validate(Architecture("graph", space.default().choices))


def test_input_kinds_are_inferred_and_overridable():
    assert infer_feature("x", False, 1).kind == "numeric"
    assert infer_feature("x", True, 1, vocab=4).kind == "categorical"
    assert infer_feature("x", False, 16).kind == "signal"
    img = infer_feature("x", False, 64, override={"shape": [8, 8]})
    assert img.kind == "image" and img.shape == (8, 8, 1)
    assert infer_feature("x", False, 64, override="signal").shape == (64, 1)
    with pytest.raises(ValueError, match="does not hold"):
        infer_feature("x", False, 64, override={"shape": [5, 5]})
    spec = from_arrays(
        {"p": np.zeros((2, 64), "float32"), "n": np.zeros((2, 1), "float32")},
        3,
        overrides={"p": {"shape": [8, 8]}},
    )
    assert [f.kind for f in spec.features] == ["numeric", "image"]
    assert spec.body_kind == "image"
