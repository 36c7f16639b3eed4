"""The operations a searched layer can be, for each kind of tensor it runs on.

Layer names are `<prefix>_<part>` and depend only on the position and the op, so weight
inheritance and network morphism can match a child's layers to its parent's by name.
"""

from __future__ import annotations

import keras

VECTOR_OPS = ("dense", "gated", "identity")
TENSOR_OPS = ("conv3", "conv5", "sepconv3", "maxpool3", "avgpool3", "identity")
ACTIVATIONS = ("relu", "tanh", "elu", "gelu")
NORMS = ("none", "batch", "layer")
DROPOUTS = (0.0, 0.1, 0.3)
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LEARNING_RATES = (0.03, 0.01, 0.003, 0.001)
# Priors of a random draw (nas.encoding.Choice.prior). Uniform draws spent the first phase of a
# search on SGD at 0.001 and Adam at 0.03, which barely train or diverge in few epochs; the
# learning rate's prior depends on the optimiser: SGD with momentum wants larger steps.
OPTIMIZER_PRIOR = (6, 2, 2)
LR_PRIORS = {
    "adam": (1, 3, 5, 3),
    "rmsprop": (1, 2, 5, 4),
    "sgd": (5, 5, 1, 0),
}
INITIALIZERS = ("glorot_uniform", "he_normal", "lecun_normal")

_INIT = {
    "glorot_uniform": keras.initializers.GlorotUniform,
    "he_normal": keras.initializers.HeNormal,
    "lecun_normal": keras.initializers.LecunNormal,
}


# Ops without weights: `apply` ignores a layer's width, activation, normalisation and dropout
# for them (a strided identity, which only cells use, projects to the width).
UNWEIGHTED_OPS = ("maxpool3", "avgpool3", "identity")


def ops_for(kind: str) -> tuple[str, ...]:
    return VECTOR_OPS if kind == "vector" else TENSOR_OPS


class Seeds:
    """Deterministic initialiser seeds, in layer-creation order."""

    def __init__(self, base: int, init: str):
        self.base, self.count, self.init = base, 0, init

    def kernel(self):
        self.count += 1
        return _INIT[self.init](seed=self.base * 1000 + self.count)


def _conv(kind: str, sep: bool = False):
    if kind == "signal":
        return keras.layers.SeparableConv1D if sep else keras.layers.Conv1D
    return keras.layers.SeparableConv2D if sep else keras.layers.Conv2D


def _pool(kind: str, op: str):
    if kind == "signal":
        return keras.layers.MaxPooling1D if op == "maxpool3" else keras.layers.AveragePooling1D
    return keras.layers.MaxPooling2D if op == "maxpool3" else keras.layers.AveragePooling2D


def project(x, kind: str, width: int, name: str, seeds: Seeds, stride: int = 1):
    """A linear map to `width` channels (1x1 convolution for tensors), optionally strided."""
    if kind == "vector":
        return keras.layers.Dense(width, kernel_initializer=seeds.kernel(), name=name)(x)
    return _conv(kind)(
        width, 1, strides=stride, padding="same", kernel_initializer=seeds.kernel(), name=name
    )(x)


def finish(x, norm: str, activation: str, dropout: float, name: str, seed: int):
    """Normalisation, activation and dropout after a weighted op."""
    if norm == "batch":
        # momentum 0.9, not Keras' 0.99: searches and retrains run few steps (20 per epoch by
        # default), and with 0.99 the moving statistics lag so far behind the weights that a
        # model scoring 0.89 on its training batches scored 0.12 on validation (8x8 digits, 100
        # steps; 0.23 after 400). With 0.9: 0.79 and 0.97 (PyTorch's default is the same 0.1).
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    elif norm == "layer":
        x = keras.layers.LayerNormalization(name=f"{name}_ln")(x)
    x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name=f"{name}_drop")(x)
    return x


def apply(
    x,
    kind: str,
    op: str,
    width: int,
    *,
    name: str,
    seeds: Seeds,
    activation: str = "relu",
    norm: str = "none",
    dropout: float = 0.0,
    stride: int = 1,
):
    """Apply one op. Pools and identity keep the channel count; strided identity is a strided
    1x1 projection (so a reduction cell can still use it)."""
    if op not in ops_for(kind):
        raise ValueError(f"op {op!r} does not apply to {kind} inputs; choose from {ops_for(kind)}")
    if op == "identity":
        if stride > 1:
            return project(x, kind, width, f"{name}_reduce", seeds, stride)
        return x
    if kind == "vector":
        if op == "dense":
            h = keras.layers.Dense(width, kernel_initializer=seeds.kernel(), name=f"{name}_dense")(
                x
            )
        else:  # gated: a linear path times a sigmoid gate
            h = keras.layers.Dense(width, kernel_initializer=seeds.kernel(), name=f"{name}_dense")(
                x
            )
            g = keras.layers.Dense(
                width, "sigmoid", kernel_initializer=seeds.kernel(), name=f"{name}_gate"
            )(x)
            h = keras.layers.Multiply(name=f"{name}_mul")([h, g])
        return finish(h, norm, activation, dropout, name, seeds.base)
    if op in ("maxpool3", "avgpool3"):
        return _pool(kind, op)(3, strides=stride, padding="same", name=f"{name}_pool")(x)
    size = 5 if op == "conv5" else 3
    sep = op == "sepconv3"
    init = {"depthwise_initializer" if sep else "kernel_initializer": seeds.kernel()}
    if sep:
        init["pointwise_initializer"] = seeds.kernel()
    h = _conv(kind, sep)(width, size, strides=stride, padding="same", name=f"{name}_conv", **init)(
        x
    )
    return finish(h, norm, activation, dropout, name, seeds.base)


def layer(x, kind: str, choices: dict, i: int, fidelity, prefix: str, seeds: Seeds):
    """Layer `i` of a chain or a graph space, from the architecture's `op_i`, `width_i` (scaled
    by the fidelity), `activation_i`, `norm_i` and `dropout_i` choices."""
    return apply(
        x,
        kind,
        choices[f"op_{i}"],
        fidelity.scale(choices[f"width_{i}"]),
        name=f"{prefix}layer{i}",
        seeds=seeds,
        activation=choices[f"activation_{i}"],
        norm=choices[f"norm_{i}"],
        dropout=choices[f"dropout_{i}"],
    )


def spatial(x) -> tuple:
    """Spatial dimensions of a tensor (empty for vectors)."""
    return tuple(x.shape[1:-1])


def concat(xs: list, name: str):
    return xs[0] if len(xs) == 1 else keras.layers.Concatenate(name=name)(xs)


def global_pool(x, kind: str, name: str):
    if kind == "signal":
        return keras.layers.GlobalAveragePooling1D(name=name)(x)
    if kind == "image":
        return keras.layers.GlobalAveragePooling2D(name=name)(x)
    return x
