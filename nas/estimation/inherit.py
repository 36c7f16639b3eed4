"""Weight inheritance: a child starts from its parent's trained weights for every layer whose
name and weight shapes are unchanged (layer names encode position and op, see spaces/ops.py)."""

from __future__ import annotations


def copy_matching(parent, child) -> list[str]:
    """Copy weights layer by layer where names and shapes match. Returns the copied names."""
    source = {layer.name: layer for layer in parent.layers}
    copied = []
    for layer in child.layers:
        old = source.get(layer.name)
        if old is None or not layer.weights:
            continue
        new_w, old_w = layer.get_weights(), old.get_weights()
        if len(new_w) == len(old_w) and all(
            a.shape == b.shape for a, b in zip(new_w, old_w, strict=True)
        ):
            layer.set_weights(old_w)
            copied.append(layer.name)
    return copied
