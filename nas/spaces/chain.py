"""Macro, chain-structured: a sequence of layers, each choosing op, width, activation,
normalisation and dropout."""

from __future__ import annotations

from nas.encoding import Architecture, Choice
from nas.spaces import ops
from nas.spaces.base import SearchSpace

WIDTHS = (8, 16, 32, 64)


def layer_choices(i: int, kind: str) -> list[Choice]:
    """What layer i chooses: op, width, activation, normalisation and dropout."""
    return [
        Choice(f"op_{i}", ops.ops_for(kind)),
        Choice(f"width_{i}", WIDTHS),
        Choice(f"activation_{i}", ops.ACTIVATIONS),
        Choice(f"norm_{i}", ops.NORMS),
        Choice(f"dropout_{i}", ops.DROPOUTS),
    ]


LAYER_KEYS = ("op", "width", "activation", "norm", "dropout", "in")


def layer_of(name: str) -> int | None:
    """The layer a choice belongs to (`op_2`, `in_2_s` -> 2), None for network-wide ones."""
    parts = name.split("_")
    if parts[0] in LAYER_KEYS and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1])
    return None


# A layer's choices that only a weighted op reads (ops.apply).
WEIGHTED_ONLY = ("width", "activation", "norm", "dropout")


def active_up_to_depth(space, arch: Architecture) -> list[str]:
    """Network-wide choices and those of the first `depth` layers, less the width, activation,
    normalisation and dropout of a pool or identity layer: the built network ignores them, so
    a mutation of one would retrain the parent's network as a new trial."""
    c = arch.choices
    out = []
    for choice in space.choices():
        i = layer_of(choice.name)
        if i is not None and (
            i >= c["depth"]
            or (choice.name.split("_")[0] in WEIGHTED_ONLY and c[f"op_{i}"] in ops.UNWEIGHTED_OPS)
        ):
            continue
        out.append(choice.name)
    return out


class ChainSpace(SearchSpace):
    """The chain space: `depth` layers in sequence, each with its own choices."""

    name = "chain"
    max_layers = 4

    def architecture_choices(self) -> list[Choice]:
        choices = [Choice("depth", tuple(range(1, self.max_layers + 1)))]
        for i in range(self.max_layers):
            choices += layer_choices(i, self.kind)
        return choices

    def active(self, arch: Architecture) -> list[str]:
        return active_up_to_depth(self, arch)

    def first(self) -> Architecture | None:
        """On tables, what a careful engineer writes first: two dense layers of 64 with ReLU,
        no normalisation or dropout, Adam at 1e-3, the smallest batch size offered. On a big
        table a time budget may allow one or two trials (bench/scale: one trial in 4 minutes
        on 2 million rows), and a random draw can be a linear model."""
        if self.kind != "vector":
            return None
        layer = {"op": "dense", "width": 64, "activation": "relu", "norm": "none", "dropout": 0.0}
        values = {**self.default().choices, "depth": 2}
        for i in range(2):
            values.update({f"{k}_{i}": v for k, v in layer.items()})
        values.update(optimizer="adam", learning_rate=0.001, initializer="he_normal")
        return Architecture(self.name, values)

    def describe(self, arch: Architecture) -> str:
        c = arch.choices
        layers = " > ".join(
            c[f"op_{i}"]
            if c[f"op_{i}"] == "identity"
            else f"{c[f'op_{i}']}{c[f'width_{i}']}-{c[f'activation_{i}']}"
            + ("" if c[f"norm_{i}"] == "none" else f"-{c[f'norm_{i}']}")
            for i in range(c["depth"])
        )
        return f"{layers} | {super().describe(arch)}"

    def body(self, x, kind, arch, fidelity, seeds, prefix):
        c = arch.choices
        for i in range(c["depth"]):
            x = ops.layer(x, kind, c, i, fidelity, prefix, seeds)
        return x
