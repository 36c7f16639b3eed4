"""What the Trainer's run_fn does (the user module's `run_fn` calls `run`): train the search's
winner (or the small default network) on every training row, keep its best epoch, choose a
binary model's decision threshold, and export the serving SavedModel with its training record.

- An epoch is one pass over the training split (the row counts the search sized its epochs by,
  else counted), capped by the operator's `steps_per_epoch` when set; the batch size is the
  winner's searched one.
- Early stopping on the validation split's loss with `restore_best_weights` (weighted by the
  class weights when the classes are weighted, as the training loss is): the registered model
  is the best epoch's, and the record says which epoch that was. At most `train_epochs` epochs
  (five times the trials' by default) and what the time budget fits; a constant learning rate
  drops on a plateau (pipelines/trainer_budget.py).
- Rare classes: the engine's class weights (`class_weight`), as the trials had them.
- A binary model's decision threshold is chosen on the validation rows (`decision_threshold`:
  best F1, or a target recall or precision, core/metrics.py) and kept in the record; the
  Evaluator's gate and the pyfunc apply it.
- The record (`core/names.py` TRAINING_RECORD, beside Format-Serving): the best epoch, every
  epoch's metrics and the rows and steps each epoch saw, the batch size, the classes and their
  training counts (the trivial baseline's prior) or the training mean, and the threshold.

TensorFlow, tf.Transform and Keras 3; imported by the user module inside run_fn only.
"""

from __future__ import annotations

import json
import math
import os

import tensorflow as tf
import tensorflow_transform as tft

import keras  # noqa: E402  isort: skip  (Keras 3, after TFT set TF_USE_LEGACY_KERAS)
import keras_tuner  # noqa: E402  isort: skip

from components.nas_tuner import tf_data, tfx_io
from core import metrics, names, splits, tasks
from nas.epochs import ROWS_PER_EPOCH, STEPS_PER_EPOCH, EpochLog, count_rows
from nas.spaces.base import DEFAULT_BATCH_SIZE, batch_size_of
from nas.spaces.text import MaskedMean
from nas.task import class_weights
from pipelines import trainer_budget

# What run_fn reads from the Trainer's custom_config (pipelines/retrain.py passes them all).
TRAINING_KEYS = ("label", "task", "serving_output", "epochs", "steps_per_epoch", "batch_size")
TRAINING_KEYS += ("seed", "edge_export", "decision_threshold", "class_weight", "train_epochs")
OOV_BUCKETS = 1
EVAL_BATCH = 1024


def config(custom_config) -> dict:
    """The keys of TRAINING_KEYS from the Trainer's custom_config; a missing one is named."""
    cfg = dict(custom_config or {})
    missing = [k for k in TRAINING_KEYS if k not in cfg]
    if missing:
        raise KeyError(
            f"custom_config lacks {missing} (given: {sorted(cfg)}); the pipeline passes the "
            "user module's settings complete (pipelines/retrain.py)"
        )
    return cfg


def feature_spec(tft_out, label: str) -> dict[str, tuple[int, int]]:
    """Transformed input features: (vocabulary size, 0 for numbers; values per example)."""
    spec = {}
    for name, feature in tft_out.transformed_feature_spec().items():
        if name == names.xf(label):
            continue
        width = math.prod(feature.shape) if feature.shape else 1
        vocab = 0
        if feature.dtype == tf.int64:
            vocab = tft_out.vocabulary_size_by_name(names.xf_base(name)) + OOV_BUCKETS
        spec[name] = (vocab, width)
    return spec


def build_model(hp: keras_tuner.HyperParameters, spec: dict, n_outputs: int, head):
    """The small default network: `n_outputs` units with the task's activation and loss (`head`,
    the engine's Task: nas/task.py). `spec`: see feature_spec."""
    inputs, parts = {}, []
    for name, (vocab, width) in sorted(spec.items()):
        if vocab and width > 1:  # free text: word ids, averaged over the words
            inputs[name] = keras.Input(shape=(width,), name=name, dtype="int64")
            emb = keras.layers.Embedding(vocab, 16)(inputs[name])
            parts.append(MaskedMean()([emb, inputs[name]]))
        elif vocab:
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


def _plan(fn_args, rows, tft_out, label: str, task, cap: int) -> dict:
    """The row counts the search sized its epochs by (its best_model's data plan), else
    counted here (the default network, trained without a search)."""
    path = os.path.join(fn_args.base_model or "", tfx_io.DATA_PLAN)
    if fn_args.base_model and os.path.exists(path):
        with open(path) as f:
            return {**json.load(f), "steps_cap": cap}
    count = {s: rows.count(s) for s in splits.SPLITS[:2]}
    counts = tf_data.class_counts(tft_out, label) if task is tasks.CLASSIFICATION else None
    return {
        "train_rows": count[splits.TRAIN],
        "validation_rows": count[splits.VALIDATION],
        "class_counts": counts,
        "steps_cap": cap,
    }


def _model(fn_args, cfg, tft_out, task, steps: int):
    """The search's winner (or the user's baseline), else the small default network. `steps`:
    all the training steps, for a searched learning-rate schedule."""
    if fn_args.hyperparameters and tfx_io.is_nas(fn_args.hyperparameters):
        return tfx_io.winner_model(fn_args, tft_out, cfg["label"], steps=steps)
    hp = keras_tuner.HyperParameters.from_config(
        fn_args.hyperparameters or {"space": [], "values": {}}
    )
    n_outputs = task.label_outputs(tft_out, cfg["label"])
    return build_model(hp, feature_spec(tft_out, cfg["label"]), n_outputs, task.engine)


def _threshold(model, data, task, rule: str, n_classes: int) -> tuple[float | None, str]:
    """A binary model's decision threshold on the validation rows (None for other models)."""
    if task is not tasks.CLASSIFICATION or n_classes != 2:
        return None, ""
    ys, ps = [], []
    for x, y in data.validation_batches(EVAL_BATCH):
        ps.append(model.predict_on_batch(x)[:, 1])
        ys.append(y.numpy().reshape(-1))
    import numpy as np

    return metrics.choose_threshold(np.concatenate(ys), np.concatenate(ps), rule)


def run(fn_args) -> dict:
    """Train, keep the best epoch, choose the threshold, export; returns the training record."""
    cfg = config(fn_args.custom_config)
    keras.utils.set_random_seed(cfg["seed"])
    tft_out = tft.TFTransformOutput(fn_args.transform_output)
    label, task = cfg["label"], tasks.get(cfg["task"])
    files = {splits.TRAIN: fn_args.train_files, splits.VALIDATION: fn_args.eval_files}
    schema = tft_out.transformed_metadata.schema
    rows = tf_data.reader(
        fn_args.data_accessor.tf_dataset_factory, files.__getitem__, schema, label, task.name
    )
    plan = _plan(fn_args, rows, tft_out, label, task, int(cfg["steps_per_epoch"] or 0))
    values = keras_tuner.HyperParameters.from_config(
        fn_args.hyperparameters or {"space": [], "values": {}}
    ).values
    batch = batch_size_of(values, int(cfg["batch_size"]) or DEFAULT_BATCH_SIZE)
    data = tf_data.TFRecordData(rows, plan, seed=cfg["seed"], validation_sample=0, row_bytes=64)
    steps = data.steps_for(data.train_rows, batch)  # one pass, capped by steps_per_epoch
    # The epochs follow the search's time budget (pipelines/trainer_budget.py).
    budget_s = 60 * float((cfg.get("nas") or {}).get("time_budget_min") or 0)
    cap = trainer_budget.epoch_cap(cfg["train_epochs"], cfg["epochs"])
    epochs, why = trainer_budget.planned_epochs(
        cap,
        budget_s,
        plan.get("costs"),
        min(data.train_rows, steps * batch),  # an epoch's rows (steps_per_epoch may cap it)
        data.validation_rows,
    )
    timebox = trainer_budget.TimeBox(budget_s)
    model = _model(fn_args, cfg, tft_out, task, steps * epochs)
    weights = class_weights(data.class_counts, cfg["class_weight"])
    count_rows(model)
    counter = EpochLog()
    best = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=trainer_budget.patience(cfg["epochs"]),
        restore_best_weights=True,
    )
    print(
        f"Trainer: {data.train_rows} training rows, batch {batch}, {steps} steps an epoch, "
        f"{why}; best epoch by validation loss on "
        f"{data.validation_rows} rows" + (f"; class weights {weights}" if weights else ""),
        flush=True,
    )
    history = model.fit(
        data.train_batches(batch, class_weight=weights),
        validation_data=tf_data.weighted(data.validation_batches(EVAL_BATCH), weights),
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=[counter, best, timebox, *trainer_budget.lower_rate(model, best.patience)],
        verbose=2,
    )
    classes = task.classes(tft_out, label)
    threshold, how = _threshold(model, data, task, cfg["decision_threshold"], len(classes))
    record = {
        "best_epoch": int(best.best_epoch) + 1,
        "epochs_run": len(history.history.get("loss", [])),
        "epochs_planned": epochs,
        "epochs_why": why,
        "patience": best.patience,
        "stopped_by_budget": timebox.stopped_epoch,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "steps_per_epoch": [e[STEPS_PER_EPOCH] for e in counter.epochs],
        "rows_per_epoch": [e.get(ROWS_PER_EPOCH) for e in counter.epochs],
        "train_rows": data.train_rows,
        "validation_rows": data.validation_rows,
        "batch_size": batch,
        "classes": classes,
        "class_counts": list(data.class_counts) if data.class_counts else None,
        "class_weights": {str(k): float(v) for k, v in (weights or {}).items()},
        "target_mean": tasks.target_scale(fn_args.train_files, label)[0]
        if task is tasks.REGRESSION
        else None,
        "threshold": threshold,
        "threshold_rule": how,
    }
    print(
        f"Trainer: kept epoch {record['best_epoch']} of {record['epochs_run']} (validation loss "
        f"{min(history.history.get('val_loss', [float('nan')])):.4f})"
        + (
            f"; stopped by the time budget after epoch {timebox.stopped_epoch}"
            if timebox.stopped_epoch
            else ""
        )
        + (f"; decision threshold {how}" if threshold is not None else ""),
        flush=True,
    )
    export_serving_model(model, tft_out, label, fn_args.serving_model_dir, cfg["serving_output"])
    if fn_args.hyperparameters and tfx_io.is_nas(fn_args.hyperparameters):
        tfx_io.save_trained(model, fn_args.hyperparameters, fn_args.serving_model_dir)
    model_dir = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
    with tf.io.gfile.GFile(os.path.join(model_dir, names.TRAINING_RECORD), "w") as f:
        f.write(json.dumps(record, sort_keys=True))
    if cfg["edge_export"]:
        _export_edge(model, fn_args.serving_model_dir)
    os.makedirs(fn_args.model_run_dir, exist_ok=True)
    return record
