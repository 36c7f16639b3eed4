"""Free text: what a sequence of word ids (nas/inputs.py's `tokens` kind) becomes before the
searched body.

Every space searches the same network-wide text choices when its input has text:
- `text_op`: `mean`, an embedding averaged over the text's words (the padding, id 0, left
  out): a bag of words; `conv`, an embedding, a 1-D convolution over windows of TEXT_KERNEL
  words with ReLU, and the maximum over the positions (a phrase detector); `both`, the two
  side by side.
- `text_dim`: the embedding's width (and the convolution's filters).

The encoding joins the tabular features (numbers, category embeddings), so the searched body
runs on both; on a text-only table it runs on the encoding alone. Layer names depend only on
the feature and the part, so weight inheritance matches them by name.
"""

from __future__ import annotations

import keras

from nas.encoding import Choice

TEXT_OPS = ("mean", "conv", "both")
TEXT_DIMS = (32, 64)
TEXT_KERNEL = 3


def choices(input_spec) -> list[Choice]:
    """The text choices, for an input with text; none otherwise."""
    if not input_spec.texts:
        return []
    return [Choice("text_op", TEXT_OPS), Choice("text_dim", TEXT_DIMS)]


def describe(values: dict) -> str:
    """The text choices in a leaderboard's line ("" without text)."""
    if "text_op" not in values:
        return ""
    return f"text={values['text_op']}{values['text_dim']} "


@keras.saving.register_keras_serializable(package="nas")
class MaskedMean(keras.layers.Layer):
    """[vectors, ids] -> the mean of a sequence's vectors over its positions whose id is not 0
    (the padding); zeros for a sequence of padding only (a missing text)."""

    def call(self, inputs):
        vectors, ids = inputs
        mask = keras.ops.cast(keras.ops.not_equal(ids, 0), vectors.dtype)
        mask = keras.ops.expand_dims(mask, -1)
        total = keras.ops.sum(vectors * mask, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[-1])


def encode(ids, feature, values: dict, fidelity, seeds, prefix: str):
    """The vector a `tokens` feature's ids (a Keras tensor [batch, length]) become, by the
    architecture's text choices `values`."""
    op, dim = values["text_op"], fidelity.scale(values["text_dim"])
    embedded = keras.layers.Embedding(
        feature.size, dim, embeddings_initializer=seeds.kernel(), name=f"{prefix}embed"
    )(ids)
    parts = []
    if op in ("mean", "both"):
        parts.append(MaskedMean(name=f"{prefix}mean")([embedded, ids]))
    if op in ("conv", "both"):
        h = keras.layers.Conv1D(
            dim,
            TEXT_KERNEL,
            padding="same",
            activation="relu",
            kernel_initializer=seeds.kernel(),
            name=f"{prefix}conv",
        )(embedded)
        parts.append(keras.layers.GlobalMaxPooling1D(name=f"{prefix}max")(h))
    if len(parts) == 1:
        return parts[0]
    return keras.layers.Concatenate(name=f"{prefix}both")(parts)
