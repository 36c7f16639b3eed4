"""User module for Transform and Trainer: preprocessing_fn and run_fn.

TFX packages this one file into a wheel, so it imports nothing from the project at module level.
It has no settings of its own: the pipeline passes Transform and the Trainer a complete
custom_config (pipelines/retrain.py), with the task's side that concerns it (how to encode the
label, the serving output's key: core/tasks.py), and a missing key is named.
The search itself is our NAS component (components/nas_tuner, over the engine in nas/); run_fn
rebuilds its winner through `components.nas_tuner.tfx_io`, imported when the hyperparameters come
from that component.

Keras 2 and Keras 3 live side by side here:
- tf.Transform sets TF_USE_LEGACY_KERAS=1, so `tf.keras` is Keras 2 (tf_keras) and TFMA uses it.
- KerasTuner 1.4.7 and the models use Keras 3 (`import keras`), never `tf.keras`.
- The exported SavedModel is a plain `tf.Module`: its `serving_default` signature parses raw
  tf.Examples, applies the TFT layer (Keras 2) and calls the Keras 3 model, all inside one
  `tf.function`. TFMA loads it as a generic TF SavedModel, not as a Keras model.
"""

from __future__ import annotations

import dataclasses
import math
import os

import tensorflow as tf
import tensorflow_transform as tft

# After tensorflow_transform: Keras 3 is its own package, unaffected by TF_USE_LEGACY_KERAS.
import keras  # noqa: E402  isort: skip
import keras_tuner  # noqa: E402  isort: skip
from tfx_bsl.public import tfxio  # noqa: E402

CATEGORY_MISSING = "__missing__"
OOV_BUCKETS = 1
NAN = float("nan")


def xf(name: str) -> str:
    """Name of a transformed feature: the column's safe name + `_xf` (core/names.py)."""
    from core import names

    return names.xf(name)


def _column(x: tf.Tensor | tf.SparseTensor, width: int, default) -> tf.Tensor:
    """A [batch, width] dense tensor from a raw column that may be sparse: missing values are
    `default`, values past `width` are dropped."""
    if isinstance(x, tf.SparseTensor):
        rows = x.dense_shape[0]
        shape = tf.stack([rows, tf.constant(width, tf.int64)])
        x = tf.sparse.slice(x, tf.zeros([2], tf.int64), shape)
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, shape), default_value=default)
    return tf.reshape(x, [-1, width])


def _dense(x: tf.Tensor | tf.SparseTensor, default) -> tf.Tensor:
    """A [batch] dense tensor of a raw column's first value (missing: `default`)."""
    return tf.reshape(_column(x, 1, default), [-1])


def _config(custom_config, *keys):
    """The values of `keys` in the component's custom_config, which the pipeline passes
    complete (pipelines/retrain.py); a missing key is named, with what was given."""
    cfg = dict(custom_config or {})
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise KeyError(
            f"custom_config lacks {missing} (given: {sorted(cfg)}); the pipeline passes the "
            "user module's settings complete (pipelines/retrain.py)"
        )
    return [cfg[k] for k in keys]


def _values(x: tf.Tensor | tf.SparseTensor, fn) -> tf.Tensor | tf.SparseTensor:
    """`fn` applied to a raw column's values, sparse or dense."""
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, fn(x.values), x.dense_shape)
    return fn(x)


def _float(x: tf.Tensor | tf.SparseTensor, dtype=tf.float32) -> tf.Tensor | tf.SparseTensor:
    """As floats, NaN values dropped from a sparse column (they count as missing)."""
    x = _values(x, lambda v: tf.cast(v, dtype))
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.retain(x, tf.logical_not(tf.math.is_nan(x.values)))
    return x


def _finite(value: tf.Tensor, fallback: float) -> tf.Tensor:
    """An analyzer's result, else `fallback` (not finite: a column without values)."""
    return tf.where(tf.math.is_finite(value), value, fallback)


def _numeric(x) -> tf.Tensor:
    """[batch, 1]: missing values are the mean of the present ones, then the z-score."""
    x = _float(x)
    mean = _finite(tft.mean(x), 0.0)  # over the present values only
    filled = _dense(x, NAN)
    filled = tf.where(tf.math.is_nan(filled), mean, filled)
    return tf.expand_dims(tft.scale_to_z_score(filled), -1)


def _category(x, vocabulary: str) -> tf.Tensor:
    """[batch, 1] vocabulary ids with an out-of-vocabulary bucket; a missing value is the
    CATEGORY_MISSING token, a number is its text."""
    if x.dtype != tf.string:
        x = _values(x, tf.strings.as_string)
    ids = tft.compute_and_apply_vocabulary(
        _dense(x, CATEGORY_MISSING), num_oov_buckets=OOV_BUCKETS, vocab_filename=vocabulary
    )
    return tf.expand_dims(ids, -1)


def _array(x, shape: list[int]) -> tf.Tensor:
    """[batch, size]: a 1-D signal as z-scores over all its values; an image array scaled to
    [0, 1] by its values' range. Missing values are the mean (a signal) or the minimum."""
    size = math.prod(shape)
    x = _float(x)
    dense = _column(x, size, NAN)
    if len(shape) == 1:
        mean = _finite(tft.mean(x), 0.0)
        std = tf.sqrt(_finite(tft.var(x), 1.0))
        dense = tf.where(tf.math.is_nan(dense), mean, dense)
        return (dense - mean) / tf.where(std > 0, std, 1.0)
    low = _finite(tft.min(x), 0.0)
    span = _finite(tft.max(x), 1.0) - low
    dense = tf.where(tf.math.is_nan(dense), low, dense)
    return (dense - low) / tf.where(span > 0, span, 1.0)


def _images(x, shape: list[int]) -> tf.Tensor:
    """[batch, height * width * channels]: encoded PNG/JPEG bytes decoded with the declared
    channels, resized to the declared height and width if they differ, scaled to [0, 1]. A
    missing image is black."""
    height, width, channels = [*shape, 1][:3]
    size = height * width * channels

    def decode(data):
        image = tf.cond(
            tf.strings.length(data) > 0,
            lambda: tf.image.convert_image_dtype(
                tf.io.decode_image(data, channels=channels, expand_animations=False), tf.float32
            ),
            lambda: tf.zeros([height, width, channels], tf.float32),
        )
        return tf.reshape(tf.image.resize(image, [height, width]), [size])

    spec = tf.TensorSpec([size], tf.float32)
    return tf.map_fn(decode, _dense(x, ""), fn_output_signature=spec)


def _label_index(y, label: str, classes: list) -> tf.Tensor:
    """The label's index in `classes` (sorted where the pipeline compiles), matched on value in
    the label's type; -1: missing or not a class. The classes become the label's vocabulary
    (a `class_text` a line), so the transform graph and the serving model carry them."""
    from core import names, tasks

    if not classes:
        raise ValueError(f"no classes for {label!r}: no label values, none declared (`classes`)")
    texts = [tasks.class_text(c) for c in classes]
    if y.dtype == tf.string:  # a missing label is "", never a class
        value, keys = _dense(y, ""), tf.constant(texts)
        if all(isinstance(c, bool) for c in classes):
            value = tf.strings.lower(tf.strings.strip(value))
    else:  # a missing label is NaN, never equal to a class
        dtype = tf.float32 if y.dtype.is_floating else tf.float64
        value = _dense(_float(y, dtype), NAN)
        keys = tf.constant([float(c) for c in classes], dtype)
    equal = tf.equal(tf.expand_dims(value, -1), tf.expand_dims(keys, 0))
    found = tf.reduce_any(equal, axis=-1)
    text = tf.gather(tf.constant(texts), tf.argmax(tf.cast(equal, tf.int32), axis=-1))
    vocabulary = tft.vocabulary(
        tf.boolean_mask(text, found),
        vocab_filename=names.feature_name(label),
        reserved_tokens=texts,
    )
    return tft.apply_vocabulary(tf.where(found, text, ""), vocabulary, default_value=-1)


def _label_value(y, label: str, classes: list) -> tf.Tensor:
    """The value itself, as a float (missing: NaN)."""
    return _dense(_float(y), NAN)


# How the label is encoded, by the task's `label_encoding` (core/tasks.py).
LABEL_ENCODINGS = {"classes": _label_index, "value": _label_value}
TRANSFORM_KEYS = ("label", "label_encoding", "classes", "feature_shapes", "categorical_features")


def preprocessing_fn(inputs, custom_config):
    """Per column, by its type and the data settings (custom_config, pipelines/retrain.py):
    - numbers: z-score, a missing value the mean of the present ones (0 when none is);
    - text, and integers listed in `categorical_features`: vocabulary ids with an
      out-of-vocabulary bucket (a missing value has its own token);
    - columns in `feature_shapes`: numbers as a flat [size] tensor (a 1-D signal as
      z-scores, an image scaled to [0, 1]), encoded PNG/JPEG bytes decoded to that shape;
    - the label, as the task encodes it (`label_encoding`): its index in `classes`
      (classification) or its value as a float (regression).
    Outputs are named by core/names.py's `xf` (safe names for any column name)."""
    label, encoding, classes, shapes, categorical = _config(custom_config, *TRANSFORM_KEYS)
    if encoding not in LABEL_ENCODINGS:
        raise KeyError(f"label_encoding {encoding!r} is not one of {list(LABEL_ENCODINGS)}")
    from core import names

    outputs = {}
    for name, x in inputs.items():
        if name == label:
            continue
        if name in shapes and x.dtype == tf.string:
            outputs[xf(name)] = _images(x, list(shapes[name]))
        elif name in shapes:
            outputs[xf(name)] = _array(x, list(shapes[name]))
        elif x.dtype == tf.string or name in categorical:
            outputs[xf(name)] = _category(x, names.feature_name(name))
        else:
            outputs[xf(name)] = _numeric(x)
    encoded = LABEL_ENCODINGS[encoding](inputs[label], label, list(classes))
    outputs[xf(label)] = tf.expand_dims(encoded, -1)
    return outputs


# ---------------------------------------------------------------------------- model


def _feature_spec(tft_out: tft.TFTransformOutput, label: str) -> dict[str, tuple[int, int]]:
    """Transformed input features: (vocabulary size, 0 for numbers; values per example)."""
    from core import names

    spec = {}
    for name, feature in tft_out.transformed_feature_spec().items():
        if name == xf(label):
            continue
        width = math.prod(feature.shape) if feature.shape else 1
        vocab = 0
        if feature.dtype == tf.int64:
            vocab = tft_out.vocabulary_size_by_name(names.xf_base(name)) + OOV_BUCKETS
        spec[name] = (vocab, width)
    return spec


def build_model(hp: keras_tuner.HyperParameters, spec: dict, n_outputs: int, head):
    """The small default network: `n_outputs` units with the task's activation and loss (`head`,
    the engine's Task: nas/task.py). `spec`: see _feature_spec."""
    inputs, parts = {}, []
    for name, (vocab, width) in sorted(spec.items()):
        if vocab:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
            emb = keras.layers.Embedding(vocab, 4)(inputs[name])
            parts.append(keras.layers.Flatten()(emb))
        else:
            inputs[name] = keras.Input(shape=(width,), name=name, dtype="float32")
            parts.append(inputs[name])
    x = keras.layers.Concatenate()(parts)
    for i in range(hp.Int("num_layers", 1, 3, default=2)):
        x = keras.layers.Dense(hp.Choice(f"units_{i}", [8, 16, 32], default=16), "relu")(x)
    outputs = keras.layers.Dense(n_outputs, activation=head.activation)(x)
    model = keras.Model(inputs, outputs)
    learning_rate = hp.Choice("learning_rate", [1e-2, 3e-3, 1e-3], default=1e-2)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), **head.compile_args())
    return model


def _dataset(fn_args, files, tf_transform_output, label: str, batch_size: int, task: str):
    """Repeated batches of (features, label), without the rows whose label is missing (the
    task's `label_present`, core/tasks.py)."""
    from core import tasks

    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=xf(label))
    schema = tf_transform_output.transformed_metadata.schema
    dataset = fn_args.data_accessor.tf_dataset_factory(files, options, schema)
    present = tasks.get(task).label_present
    return dataset.unbatch().filter(lambda _, y: present(y)).batch(batch_size).repeat()


# What run_fn reads from the Trainer's custom_config (pipelines/retrain.py passes them all).
TRAINING_KEYS = ("label", "task", "serving_output", "epochs", "steps_per_epoch", "batch_size")
TRAINING_KEYS += ("seed", "edge_export")


@dataclasses.dataclass
class _Inputs:
    """What run_fn starts from: its settings, the Transform output and the datasets."""

    cfg: dict
    tft_out: tft.TFTransformOutput
    spec: dict[str, tuple[int, int]]
    train: tf.data.Dataset
    eval: tf.data.Dataset


def _prepare(fn_args, transform_path: str) -> _Inputs:
    cfg = dict(zip(TRAINING_KEYS, _config(fn_args.custom_config, *TRAINING_KEYS), strict=True))
    keras.utils.set_random_seed(cfg["seed"])
    tft_out = tft.TFTransformOutput(transform_path)
    label = cfg["label"]
    train, evalu = (
        _dataset(fn_args, files, tft_out, label, cfg["batch_size"], cfg["task"])
        for files in (fn_args.train_files, fn_args.eval_files)
    )
    return _Inputs(cfg, tft_out, _feature_spec(tft_out, label), train, evalu)


class ServingModule(tf.Module):
    """Raw tf.Example in, class probabilities (`probabilities`) or the predicted value
    (`predictions`, regression) out; the TFT graph is inside the signature."""

    def __init__(self, model, tf_transform_output, label: str, output: str):
        super().__init__()
        self.model = model
        self._output = output
        self.tft_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        self._serving_spec = {k: v for k, v in raw_spec.items() if k != label}
        self._raw_spec = raw_spec
        self._input_names = list(model.input.keys()) if isinstance(model.input, dict) else None

    def _predict(self, raw_features):
        transformed = self.tft_layer(raw_features)
        inputs = {name: transformed[name] for name in self._input_names}
        return self.model(inputs, training=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, serialized):
        features = tf.io.parse_example(serialized, self._serving_spec)
        return {self._output: self._predict(features)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, serialized):
        features = tf.io.parse_example(serialized, self._raw_spec)
        return self.tft_layer(features)


def export_serving_model(model, tf_transform_output, label: str, export_dir: str, output: str):
    """The serving SavedModel, its prediction under the key `output` (the task's
    serving_output)."""
    module = ServingModule(model, tf_transform_output, label, output)
    tf.saved_model.save(
        module,
        export_dir,
        signatures={
            "serving_default": module.serve.get_concrete_function(),
            "transform_features": module.transform_features.get_concrete_function(),
        },
    )


def _export_edge(model, serving_model_dir: str) -> None:
    """TFLite float and dynamic-range files beside the serving model (core/tflite.py). A model
    that does not convert is still served: the failure is logged, and the pusher logs no edge
    files."""
    from absl import logging

    from core import tflite

    try:
        folder = tflite.export(model, os.path.dirname(serving_model_dir.rstrip("/")))
        logging.info("edge export: %s", folder)
    except tflite.EdgeExportError as e:
        logging.warning("EDGE EXPORT FAILED (the model is still served): %s", e)


def run_fn(fn_args):
    """Train the searched architecture at full fidelity (warm-started from the search's best
    weights where shapes match) and export the serving SavedModel. Without NAS
    hyperparameters it trains the small default network below."""
    inputs = _prepare(fn_args, fn_args.transform_output)
    cfg = inputs.cfg
    model, nas = None, None
    if fn_args.hyperparameters:
        from components.nas_tuner import tfx_io

        if tfx_io.is_nas(fn_args.hyperparameters):
            nas = tfx_io
            model = tfx_io.winner_model(fn_args, inputs.tft_out, cfg["label"])
    if model is None:
        from core import tasks

        task = tasks.get(cfg["task"])
        hp = keras_tuner.HyperParameters.from_config(
            fn_args.hyperparameters or {"space": [], "values": {}}
        )
        n_outputs = task.label_outputs(inputs.tft_out, cfg["label"])
        model = build_model(hp, inputs.spec, n_outputs, task.engine)
    model.fit(
        inputs.train,
        validation_data=inputs.eval,
        epochs=cfg["epochs"],
        steps_per_epoch=fn_args.train_steps or cfg["steps_per_epoch"],
        validation_steps=fn_args.eval_steps or max(1, cfg["steps_per_epoch"] // 4),
        verbose=2,
    )
    export_serving_model(
        model, inputs.tft_out, cfg["label"], fn_args.serving_model_dir, cfg["serving_output"]
    )
    if nas is not None:  # what a later run's retrain or warm mode starts from
        nas.save_trained(model, fn_args.hyperparameters, fn_args.serving_model_dir)
    if cfg["edge_export"]:
        _export_edge(model, fn_args.serving_model_dir)
    os.makedirs(fn_args.model_run_dir, exist_ok=True)
