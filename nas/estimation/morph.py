"""Network morphism (Net2Net, Chen et al., 2016): function-preserving widen and deepen, so a
child starts exactly where its parent ended.

Supported on the chain space over tabular (dense) bodies:
- `widen:i`: layer i (a dense op, no layer normalisation) gets the next larger width. New units
  copy randomly chosen old ones; the next weighted layer divides the copied rows by the number
  of copies, so its input sum is unchanged. Batch-norm statistics are copied with the units.
- `deepen:d`: a new dense ReLU layer d is appended, initialised to the identity. It is
  function-preserving because the layer before it ends in a ReLU (outputs >= 0), and has no
  normalisation or dropout.
Other changes fall back to weight inheritance.
"""

from __future__ import annotations

import numpy as np

from nas.encoding import Architecture
from nas.estimation.inherit import copy_matching

WEIGHTED = ("dense", "gated")


def _widths(space):
    return space.choice("width_0").values


def morph_child(space, parent: Architecture, rng) -> tuple[Architecture, str] | None:
    """A widen or deepen child of `parent`, or None where no morphism applies."""
    if space.name != "chain" or space.kind != "vector":
        return None
    c = parent.choices
    depth, widths = c["depth"], _widths(space)
    options = []
    for i in range(depth):
        if c[f"op_{i}"] == "dense" and c[f"norm_{i}"] != "layer" and c[f"width_{i}"] < widths[-1]:
            options.append(f"widen:{i}")
    last = depth - 1
    if (
        depth < space.max_layers
        and c[f"op_{last}"] in WEIGHTED
        and c[f"activation_{last}"] == "relu"
    ):
        options.append(f"deepen:{depth}")
    if not options:
        return None
    op = rng.choice(options)
    child = dict(c)
    kind, idx = op.split(":")
    i = int(idx)
    if kind == "widen":
        child[f"width_{i}"] = widths[widths.index(c[f"width_{i}"]) + 1]
    else:
        child["depth"] = depth + 1
        child.update(
            {
                f"op_{i}": "dense",
                f"width_{i}": c[f"width_{last}"],
                f"activation_{i}": "relu",
                f"norm_{i}": "none",
                f"dropout_{i}": 0.0,
            }
        )
    return Architecture(parent.space, child), op


def _consumer(child_arch: Architecture, i: int) -> list[str]:
    """Names of the layers that read layer i's output (after identity layers)."""
    c = child_arch.choices
    for j in range(i + 1, c["depth"]):
        if c[f"op_{j}"] == "identity":
            continue
        names = [f"layer{j}_dense"]
        if c[f"op_{j}"] == "gated":
            names.append(f"layer{j}_gate")
        return names
    return ["head"]


def transfer(parent_model, child_model, child_arch: Architecture, op: str, seed: int = 0):
    """Give `child_model` the parent's function. Returns the names of the layers set."""
    copied = copy_matching(parent_model, child_model)
    kind, idx = op.split(":")
    i = int(idx)
    child = {layer.name: layer for layer in child_model.layers}
    parent = {layer.name: layer for layer in parent_model.layers}
    if kind == "deepen":
        layer = child[f"layer{i}_dense"]
        kernel, bias = layer.get_weights()
        layer.set_weights([np.eye(*kernel.shape, dtype=kernel.dtype), np.zeros_like(bias)])
        return copied + [layer.name]
    name = f"layer{i}_dense"
    old_kernel, old_bias = parent[name].get_weights()
    new_kernel, _ = child[name].get_weights()
    old_units, new_units = old_kernel.shape[1], new_kernel.shape[1]
    rng = np.random.default_rng(seed)
    mapping = np.concatenate(
        [np.arange(old_units), rng.integers(0, old_units, new_units - old_units)]
    )
    counts = np.bincount(mapping, minlength=old_units).astype(old_kernel.dtype)
    child[name].set_weights([old_kernel[:, mapping], old_bias[mapping]])
    bn = f"layer{i}_bn"
    if bn in child:
        child[bn].set_weights([w[mapping] for w in parent[bn].get_weights()])
    for consumer in _consumer(child_arch, i):
        weights = parent[consumer].get_weights()
        kernel = weights[0][mapping, :] / counts[mapping][:, None]
        child[consumer].set_weights([kernel, *weights[1:]])
    return copied + [name, *_consumer(child_arch, i)]
