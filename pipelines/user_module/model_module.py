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
import os

import tensorflow as tf
import tensorflow_transform as tft

# After tensorflow_transform: Keras 3 is its own package, unaffected by TF_USE_LEGACY_KERAS.
import keras  # noqa: E402  isort: skip
import keras_tuner  # noqa: E402  isort: skip
from tfx_bsl.public import tfxio  # noqa: E402

CATEGORY_MISSING = "__missing__"
OOV_BUCKETS = 1


def xf(name: str) -> str:
    """Name of a transformed feature."""
    return f"{name}_xf"


def _dense(x: tf.Tensor | tf.SparseTensor, default) -> tf.Tensor:
    """A [batch] dense tensor from a raw column that may be sparse (missing values)."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(x, [-1])


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


def _float(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor | tf.SparseTensor:
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
    return tf.cast(x, tf.float32)


def _label_index(y, label: str) -> tf.Tensor:
    """The class's index in the label's vocabulary."""
    return tft.compute_and_apply_vocabulary(_dense(y, ""), vocab_filename=label)


def _label_value(y, label: str) -> tf.Tensor:
    """The value itself, as a float (missing: NaN)."""
    return _dense(_float(y), float("nan"))


# How the label is encoded, by the task's `label_encoding` (core/tasks.py).
LABEL_ENCODINGS = {"vocabulary": _label_index, "value": _label_value}


def preprocessing_fn(inputs, custom_config):
    """Numeric columns: fill missing with the mean, then z-score. String columns: vocabulary with
    an out-of-vocabulary bucket (missing values get their own token). Label: as the task encodes
    it (custom_config `label_encoding`): its vocabulary index (classification) or its value as
    a float (regression)."""
    label, encoding = _config(custom_config, "label", "label_encoding")
    if encoding not in LABEL_ENCODINGS:
        raise KeyError(f"label_encoding {encoding!r} is not one of {list(LABEL_ENCODINGS)}")
    outputs = {}
    for name, x in inputs.items():
        if name == label:
            continue
        if x.dtype == tf.string:
            filled = _dense(x, CATEGORY_MISSING)
            ids = tft.compute_and_apply_vocabulary(
                filled, num_oov_buckets=OOV_BUCKETS, vocab_filename=name
            )
            outputs[xf(name)] = tf.expand_dims(ids, -1)
        else:
            x = _float(x)
            mean = tft.mean(x)  # over the present values only
            filled = _dense(x, float("nan"))
            filled = tf.where(tf.math.is_nan(filled), mean, filled)
            outputs[xf(name)] = tf.expand_dims(tft.scale_to_z_score(filled), -1)
    outputs[xf(label)] = tf.expand_dims(LABEL_ENCODINGS[encoding](inputs[label], label), -1)
    return outputs


# ---------------------------------------------------------------------------- model


def _feature_spec(tf_transform_output: tft.TFTransformOutput, label: str) -> dict[str, int]:
    """Transformed input features and, for categorical ones, their vocabulary size (0: numeric)."""
    spec = {}
    for name, feature in tf_transform_output.transformed_feature_spec().items():
        if name == xf(label):
            continue
        if feature.dtype == tf.int64:
            raw = name[: -len("_xf")]
            spec[name] = tf_transform_output.vocabulary_size_by_name(raw) + OOV_BUCKETS
        else:
            spec[name] = 0
    return spec


def build_model(hp: keras_tuner.HyperParameters, spec: dict[str, int], n_outputs: int, head):
    """The small default network: `n_outputs` units with the task's activation and loss (`head`,
    the engine's Task: nas/task.py)."""
    inputs, parts = {}, []
    for name, vocab in sorted(spec.items()):
        if vocab:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
            emb = keras.layers.Embedding(vocab, 4)(inputs[name])
            parts.append(keras.layers.Flatten()(emb))
        else:
            inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
            parts.append(inputs[name])
    x = keras.layers.Concatenate()(parts)
    for i in range(hp.Int("num_layers", 1, 3, default=2)):
        x = keras.layers.Dense(hp.Choice(f"units_{i}", [8, 16, 32], default=16), "relu")(x)
    outputs = keras.layers.Dense(n_outputs, activation=head.activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(
            hp.Choice("learning_rate", [1e-2, 3e-3, 1e-3], default=1e-2)
        ),
        **head.compile_args(),
    )
    return model


def _dataset(fn_args, files, tf_transform_output, label: str, batch_size: int):
    return fn_args.data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=xf(label)),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


# What run_fn reads from the Trainer's custom_config (pipelines/retrain.py passes them all).
TRAINING_KEYS = (
    "label",
    "task",
    "serving_output",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "seed",
    "edge_export",
)


@dataclasses.dataclass
class _Inputs:
    """What run_fn starts from: its settings, the Transform output and the datasets."""

    cfg: dict
    tft_out: tft.TFTransformOutput
    spec: dict[str, int]
    train: tf.data.Dataset
    eval: tf.data.Dataset


def _prepare(fn_args, transform_path: str) -> _Inputs:
    cfg = dict(zip(TRAINING_KEYS, _config(fn_args.custom_config, *TRAINING_KEYS), strict=True))
    keras.utils.set_random_seed(cfg["seed"])
    tft_out = tft.TFTransformOutput(transform_path)
    label = cfg["label"]
    train, evalu = (
        _dataset(fn_args, files, tft_out, label, cfg["batch_size"])
        for files in (fn_args.train_files, fn_args.eval_files)
    )
    return _Inputs(
        cfg=cfg,
        tft_out=tft_out,
        spec=_feature_spec(tft_out, label),
        train=train,
        eval=evalu,
    )


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
