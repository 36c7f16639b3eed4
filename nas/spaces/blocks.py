"""Convolutional blocks for signals (1-D) and images (2-D): the building units of the stages
space (stages.py). Each block maps its input to `width` channels, downsampling by `stride`.

- `conv`: convolution, batch norm, activation.
- `separable`: the same with a depthwise-separable convolution.
- `residual`: two convolutions with a shortcut (a strided 1x1 projection where the shape
  changes), as in ResNet's basic block.
- `inverted`: MobileNetV2's inverted bottleneck: 1x1 expansion by `EXPANSION`, depthwise
  convolution, 1x1 linear projection; a shortcut when the shape is kept.

`se` adds squeeze-excitation (Hu et al., 2018) before the block's output or shortcut sum.
Layer names depend only on the block's position and part, so weight inheritance matches a
child's layers to its parent's by name.
"""

from __future__ import annotations

import keras

BLOCKS = ("conv", "separable", "residual", "inverted")
EXPANSION = 4
SE_RATIO = 4


def _layers(kind: str) -> dict:
    one_d = kind == "signal"
    gap = keras.layers.GlobalAveragePooling1D if one_d else keras.layers.GlobalAveragePooling2D
    return {
        "conv": keras.layers.Conv1D if one_d else keras.layers.Conv2D,
        "sep": keras.layers.SeparableConv1D if one_d else keras.layers.SeparableConv2D,
        "dw": keras.layers.DepthwiseConv1D if one_d else keras.layers.DepthwiseConv2D,
        "gap": gap,
        "maxpool": keras.layers.MaxPooling1D if one_d else keras.layers.MaxPooling2D,
    }


def _bn(x, name: str):
    # momentum 0.9 for the reason given in ops.finish: few steps per search trial.
    return keras.layers.BatchNormalization(momentum=0.9, name=name)(x)


def _act(x, activation: str, name: str):
    return keras.layers.Activation(activation, name=name)(x)


def conv(x, kind, width, kernel, name, seeds, stride=1, separable=False, depthwise=False):
    """A bias-free convolution (batch norm follows every one)."""
    layers = _layers(kind)
    common = {"strides": stride, "padding": "same", "use_bias": False, "name": name}
    if depthwise:
        return layers["dw"](kernel, depthwise_initializer=seeds.kernel(), **common)(x)
    if separable:
        init = {"depthwise_initializer": seeds.kernel(), "pointwise_initializer": seeds.kernel()}
        return layers["sep"](width, kernel, **init, **common)(x)
    return layers["conv"](width, kernel, kernel_initializer=seeds.kernel(), **common)(x)


def squeeze_excite(x, kind, name, seeds):
    """Channel attention: global pool, a bottleneck, a sigmoid gate per channel."""
    channels = x.shape[-1]
    s = _layers(kind)["gap"](keepdims=True, name=f"{name}_se_pool")(x)
    s = keras.layers.Dense(
        max(4, channels // SE_RATIO), "relu", kernel_initializer=seeds.kernel(), name=f"{name}_se1"
    )(s)
    s = keras.layers.Dense(
        channels, "sigmoid", kernel_initializer=seeds.kernel(), name=f"{name}_se2"
    )(s)
    return keras.layers.Multiply(name=f"{name}_se")([x, s])


def _shortcut(x, kind, width, stride, name, seeds):
    if stride == 1 and x.shape[-1] == width:
        return x
    h = conv(x, kind, width, 1, f"{name}_proj", seeds, stride=stride)
    return _bn(h, f"{name}_proj_bn")


def block(x, kind, block_type, width, kernel, *, stride, activation, se, name, seeds):
    """One block of `block_type` (see the module's docstring)."""
    if block_type in ("conv", "separable"):
        h = conv(x, kind, width, kernel, f"{name}_conv", seeds, stride, block_type == "separable")
        h = _bn(h, f"{name}_bn")
        if se:
            h = squeeze_excite(h, kind, name, seeds)
        return _act(h, activation, f"{name}_act")
    if block_type == "residual":
        h = conv(x, kind, width, kernel, f"{name}_conv1", seeds, stride)
        h = _act(_bn(h, f"{name}_bn1"), activation, f"{name}_act1")
        h = _bn(conv(h, kind, width, kernel, f"{name}_conv2", seeds), f"{name}_bn2")
        if se:
            h = squeeze_excite(h, kind, name, seeds)
        short = _shortcut(x, kind, width, stride, name, seeds)
        h = keras.layers.Add(name=f"{name}_add")([h, short])
        return _act(h, activation, f"{name}_act")
    if block_type == "inverted":
        wide = x.shape[-1] * EXPANSION
        h = conv(x, kind, wide, 1, f"{name}_expand", seeds)
        h = _act(_bn(h, f"{name}_bn1"), activation, f"{name}_act1")
        h = conv(h, kind, wide, kernel, f"{name}_dw", seeds, stride, depthwise=True)
        h = _act(_bn(h, f"{name}_bn2"), activation, f"{name}_act2")
        if se:
            h = squeeze_excite(h, kind, name, seeds)
        h = _bn(conv(h, kind, width, 1, f"{name}_project", seeds), f"{name}_bn3")
        if stride == 1 and x.shape[-1] == width:
            h = keras.layers.Add(name=f"{name}_add")([h, x])
        return h
    raise ValueError(f"block {block_type!r} is not one of {BLOCKS}")


def downsample(x, kind, how: str, name: str):
    """Halve the spatial size with a max pool (`pool`); `stride` leaves it to the next block."""
    if how == "pool":
        return _layers(kind)["maxpool"](2, padding="same", name=f"{name}_pool")(x)
    return x


def can_halve(x) -> bool:
    return max(tuple(x.shape[1:-1])) > 1
