"""Macro, staged: the shape of the convolutional networks that do well on signals and images.

A stem convolution, then `stages` stages of `blocks` blocks each. Every stage after the first
halves the spatial size (a strided first block, or a max pool before it) and multiplies the
width by `growth`, up to `MAX_WIDTH`. Each stage chooses its block type (plain, separable,
residual or inverted bottleneck; blocks.py) and kernel size; squeeze-excitation, the
activation, the head (global average pooling, or flatten and a dense layer) and its dropout
are network-wide. Weight decay and the learning-rate schedule are searched with the optimiser.

Depth reaches 1 + 4 x 3 blocks (residual and inverted blocks hold 2 and 3 convolutions each),
width 256. For tabular data only, use the chain, graph or cells space.
"""

from __future__ import annotations

import keras

from nas.encoding import Architecture, Choice
from nas.spaces import blocks
from nas.spaces.base import SearchSpace

MAX_STAGES = 4
BLOCKS_PER_STAGE = (1, 2, 3)
WIDTHS = (16, 32, 64)
GROWTH = (2, 1)
MAX_WIDTH = 256
KERNELS = {"signal": (3, 5, 7), "image": (3, 5)}
ACTIVATIONS = ("relu", "gelu", "swish")
DOWNSAMPLE = ("stride", "pool")
HEADS = ("gap", "flatten")
HEAD_UNITS = 128
DROPOUTS = (0.0, 0.1, 0.3)
WEIGHT_DECAYS = (0.0, 0.001, 0.01, 0.05)
SCHEDULES = ("constant", "cosine", "onecycle")


class StagesSpace(SearchSpace):
    """The staged convolutional space for signal and image features (see the module's
    docstring)."""

    name = "stages"
    max_stages = MAX_STAGES

    def __init__(self, input_spec, **kwargs):
        if input_spec.body_kind == "vector":
            raise ValueError(
                "the stages space searches convolutional networks for signal and image "
                "features; this data has only tabular ones: use space chain, graph or cells"
            )
        super().__init__(input_spec, **kwargs)

    def architecture_choices(self) -> list[Choice]:
        choices = [
            # Priors (weights) shape the first random draws only; mutation is uniform.
            Choice("stages", tuple(range(1, self.max_stages + 1)), (1, 3, 2, 1)),
            Choice("blocks", BLOCKS_PER_STAGE, (3, 2, 1)),
            Choice("width", WIDTHS, (2, 2, 1)),
            Choice("growth", GROWTH, (3, 1)),
        ]
        for s in range(self.max_stages):
            choices += [
                Choice(f"block_{s}", blocks.BLOCKS, (2, 1, 2, 1)),
                Choice(f"kernel_{s}", KERNELS[self.kind]),
            ]
        choices += [
            Choice("se", (0, 1)),
            Choice("downsample", DOWNSAMPLE),
            Choice("activation", ACTIVATIONS),
            Choice("head", HEADS, (3, 1)),
            Choice("dropout", DROPOUTS),
            Choice("weight_decay", WEIGHT_DECAYS, (2, 1, 2, 1)),
            Choice("schedule", SCHEDULES, (1, 2, 1)),
        ]
        return choices

    def first(self) -> Architecture:
        """What a careful engineer writes first: three stages of one plain conv block of 64
        filters (kernel 5 on signals, 3 on images) with max pooling between, GAP, Adam at
        1e-3. The search starts from a network that trains in a few epochs, not from a random
        draw that may not."""
        kernel = 5 if self.kind == "signal" else 3
        return Architecture(
            self.name,
            {
                **self.default().choices,
                "stages": 3,
                "blocks": 1,
                "width": 64,
                "growth": 1,
                **{f"block_{s}": "conv" for s in range(self.max_stages)},
                **{f"kernel_{s}": kernel for s in range(self.max_stages)},
                "se": 0,
                "downsample": "pool",
                "activation": "relu",
                "head": "gap",
                "dropout": 0.0,
                "weight_decay": 0.0,
                "schedule": "constant",
                "optimizer": "adam",
                "learning_rate": 0.001,
                "initializer": "he_normal",
            },
        )

    def widths(self, arch: Architecture, fidelity=None) -> list[int]:
        """Each stage's width."""
        c = arch.choices
        scale = (fidelity or self.fidelity).scale
        return [scale(min(c["width"] * c["growth"] ** s, MAX_WIDTH)) for s in range(c["stages"])]

    def active(self, arch: Architecture) -> list[str]:
        stages = arch.choices["stages"]
        return [
            c.name
            for c in self.choices()
            if not (c.name.startswith(("block_", "kernel_")) and int(c.name[-1]) >= stages)
        ]

    def describe(self, arch: Architecture) -> str:
        c = arch.choices
        stages = " > ".join(
            f"{c['blocks']}x{c[f'block_{s}']}{w}k{c[f'kernel_{s}']}"
            for s, w in enumerate(self.widths(arch))
        )
        extras = [c["activation"], c["downsample"], f"{c['head']}-drop{c['dropout']}"]
        if c["se"]:
            extras.insert(0, "se")
        training = f"wd={c['weight_decay']} {c['schedule']}"
        return f"{stages} | {' '.join(extras)} | {super().describe(arch)} {training}"

    def body(self, x, kind, arch, fidelity, seeds, prefix):
        c = arch.choices
        widths = self.widths(arch, fidelity)
        act = c["activation"]
        stem = {"stride": 1, "activation": act, "se": False, "name": f"{prefix}stem"}
        x = blocks.block(x, kind, "conv", widths[0], 3, seeds=seeds, **stem)
        for s, width in enumerate(widths):
            stride = 1
            if s > 0 and blocks.can_halve(x):
                if c["downsample"] == "pool":
                    x = blocks.downsample(x, kind, "pool", f"{prefix}stage{s}")
                else:
                    stride = 2
            for b in range(c["blocks"]):
                x = blocks.block(
                    x,
                    kind,
                    c[f"block_{s}"],
                    width,
                    c[f"kernel_{s}"],
                    stride=stride if b == 0 else 1,
                    activation=act,
                    se=bool(c["se"]),
                    name=f"{prefix}s{s}b{b}",
                    seeds=seeds,
                )
        return x

    def pool(self, x, kind, arch, seeds, prefix):
        c = arch.choices
        if c["head"] == "flatten":
            x = keras.layers.Flatten(name=f"{prefix}flat")(x)
            x = keras.layers.Dense(
                HEAD_UNITS, kernel_initializer=seeds.kernel(), name=f"{prefix}head_dense"
            )(x)
            x = keras.layers.Activation(c["activation"], name=f"{prefix}head_act")(x)
        else:
            x = super().pool(x, kind, arch, seeds, prefix)
        if c["dropout"]:
            x = keras.layers.Dropout(c["dropout"], seed=seeds.base, name=f"{prefix}head_drop")(x)
        return x
