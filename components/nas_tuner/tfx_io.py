"""The TFX-facing side of the engine (TensorFlow only): the input spec and datasets from the
Transform output, and the Trainer's rebuild of the winning architecture.

The engine (`nas/`) is plain Keras 3 and runs on any backend.
"""

from __future__ import annotations

import json
import math
import os

import tensorflow as tf
import tensorflow_transform as tft

import keras  # noqa: E402  isort: skip  (Keras 3, after TFT set TF_USE_LEGACY_KERAS)
import keras_tuner  # noqa: E402  isort: skip

from components.nas_tuner import tf_data
from core import names, splits, tasks
from nas import baseline, build
from nas.config import SearchConfig
from nas.encoding import Architecture
from nas.estimation.fidelity import Fidelity
from nas.inputs import InputSpec, infer_feature
from nas.search import OUTPUT_FILES
from nas.spaces import SPACE_KEY, get_space

OOV_BUCKETS = 1  # the user module's vocabularies have one out-of-vocabulary bucket
# In the Tuner's best_model (the Trainer's base_model): the search's best weights and config.
WEIGHTS = OUTPUT_FILES["weights"]
SEARCH_CONFIG = OUTPUT_FILES["search_config"]
DATA_PLAN = "data_plan.json"  # the row counts the search sized its epochs by (tf_data.py)
ROW_CACHE = "row_cache"  # in the search's state directory: its row shares (row_cache.py)


def xf(name: str) -> str:
    """A column's transformed feature name (core/names.py)."""
    return names.xf(name)


def labelled(dataset, task: str, batch_size: int):
    """Batches of (features, label) without the rows whose label is missing (the task's
    `label_present`): Transform keeps them, as -1 or NaN, and training leaves them out."""
    present = tasks.get(task).label_present
    return dataset.unbatch().filter(lambda _, y: present(y)).batch(batch_size)


def input_spec(
    tft_out: tft.TFTransformOutput,
    label: str,
    overrides: dict | None,
    task: str,
    train_files: list[str],
):
    """Model inputs from the transformed feature spec: int64 features with a vocabulary are
    categorical, float features of length 1 numeric, longer fixed-length floats signals (or
    images, when `overrides` gives a shape: the pipeline derives them from the data settings,
    pipelines/task.py `input_overrides`). The label's side (classes, or one output and its
    scale) is the task's (core/tasks.py)."""
    overrides = dict(overrides or {})
    features = []
    for name, spec in sorted(tft_out.transformed_feature_spec().items()):
        if name == xf(label):
            continue
        if not isinstance(spec, tf.io.FixedLenFeature):
            raise ValueError(
                f"transformed feature {name!r} is a {type(spec).__name__}; the NAS tuner needs "
                "fixed-length features (densify it in preprocessing_fn)"
            )
        length = int(math.prod(spec.shape)) if spec.shape else 1
        is_int = spec.dtype == tf.int64
        vocab = 0
        if is_int:
            try:
                vocab = tft_out.vocabulary_size_by_name(names.xf_base(name)) + OOV_BUCKETS
            except (ValueError, KeyError, tf.errors.NotFoundError):
                vocab = 0
        features.append(infer_feature(name, is_int, length, vocab, overrides.get(name)))
    if not features:
        raise ValueError(f"the Transform output has no features besides the label {label!r}")
    target = tasks.get(task).input_target(tft_out, label, train_files)
    return InputSpec(tuple(features), task=task, **target)


def rows_reader(examples, tft_out, label: str, task: str, telemetry: str):
    """The SplitReader of an Examples artifact's splits (tf_data.py)."""
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    factory = tfxio_utils.get_tf_dataset_factory_from_artifact(examples, [telemetry])

    def files_of(split: str) -> list[str]:
        return [
            io_utils.all_files_pattern(u) for u in artifact_utils.get_split_uris(examples, split)
        ]

    return tf_data.reader(factory, files_of, tft_out.transformed_metadata.schema, label, task)


def split_dataset(
    examples_uri: str,
    transform_graph_uri: str,
    label: str,
    split: str,
    batch_size: int,
    seed: int = 0,
):
    """Repeated (features, label) batches of one split of Transform's transformed examples,
    read straight from their folder (`<examples_uri>/Split-<split>`), without TFX: what a
    generated notebook uses."""
    tft_out = tft.TFTransformOutput(transform_graph_uri)
    spec = tft_out.transformed_feature_spec()
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no transformed examples in {examples_uri}/Split-{split}")
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if split == "train":
        ds = ds.shuffle(10_000, seed=seed)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        target = features.pop(xf(label))
        return features, target

    task = tasks.CLASSIFICATION if spec[xf(label)].dtype == tf.int64 else tasks.REGRESSION
    return labelled(ds.repeat().batch(batch_size).map(parse), task, batch_size)


def search_inputs(
    examples, transform_graph_uri: str, label: str, config: SearchConfig, plan, state: str
):
    """(input spec, SearchData) for a search over Transform's outputs: the Tuner builds them,
    and so does each worker of a parallel search (components/nas_tuner/worker.py). `plan`:
    tf_data.data_plan's row counts; `state`: the search's state directory, where the row
    shares are cached (ROW_CACHE)."""
    from tfx.types import artifact_utils

    tft_out = tft.TFTransformOutput(transform_graph_uri)
    train_files = [os.path.join(artifact_utils.get_split_uri(examples, splits.TRAIN), "*")]
    spec = input_spec(tft_out, label, config.input_overrides, config.task, train_files)
    rows = rows_reader(examples, tft_out, label, config.task, "NasTuner")
    data = tf_data.TFRecordData(
        rows,
        plan,
        seed=config.seed,
        validation_sample=config.validation_sample,
        row_bytes=tf_data.row_bytes(spec),
        cache_dir=os.path.join(state, ROW_CACHE),
    )
    return spec, data


def winner_model(fn_args, tft_out, label: str, steps: int = 0, log=print) -> keras.Model:
    """The Trainer's model: the searched architecture at full fidelity, warm-started from the
    search's best weights wherever the shapes match. `steps`: the training steps it will take
    (epochs x steps an epoch), over which a searched learning-rate schedule runs."""
    values = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
    cfg = dict(fn_args.custom_config or {})
    if "nas" not in cfg:
        raise KeyError("the Trainer's custom_config has no 'nas' (the search config)")
    search = SearchConfig.from_dict(cfg["nas"])
    spec = input_spec(
        tft_out, label, search.input_overrides, search.task, list(fn_args.train_files)
    )
    if baseline.module_of(values):
        return _baseline_model(fn_args, spec, log)
    arch = Architecture.from_values(values[SPACE_KEY], values)
    weights, fidelity = "", Fidelity()
    if fn_args.base_model:
        weights = os.path.join(fn_args.base_model, WEIGHTS)
        meta = os.path.join(fn_args.base_model, SEARCH_CONFIG)
        if os.path.exists(meta):
            with open(meta) as f:
                fidelity = SearchConfig.from_dict(json.load(f)).search_fidelity
    model, copied = build.winner_model(
        arch, spec, seed=search.seed, steps=steps, weights=weights, fidelity=fidelity
    )
    described = get_space(arch.space, spec, seed=search.seed).describe(arch)
    log(f"Trainer: NAS architecture {described} ({model.count_params()} parameters)")
    if copied is not None:
        log(
            f"Trainer: warm start from the Tuner's weights (the search's best, or the "
            f"champion's when retraining): {len(copied)} layer(s) matched"
        )
    return model


def _baseline_model(fn_args, spec, log) -> keras.Model:
    """The user's baseline model won the search: rebuild it from its file with the values it
    declared, starting from its search weights (the same fidelity: it has no lower one)."""
    hp = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
    path = baseline.module_of(hp.values)
    model, _ = baseline.build(path, spec, hp)
    log(f"Trainer: your baseline model from {path} ({model.count_params()} parameters)")
    weights = os.path.join(fn_args.base_model or "", WEIGHTS)
    if fn_args.base_model and os.path.exists(weights):
        model.load_weights(weights)
        log("Trainer: warm start from the baseline's search weights")
    return model


def save_trained(model, hyperparameters: dict, serving_model_dir: str) -> str:
    """Keep the trained model's weights and hyperparameters beside the serving model."""
    out = os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), names.KERAS_DIR)
    os.makedirs(out, exist_ok=True)
    model.save_weights(os.path.join(out, names.KERAS_WEIGHTS))
    with open(os.path.join(out, names.KERAS_HYPERPARAMETERS), "w") as f:
        json.dump(hyperparameters, f, sort_keys=True)
    return out


def trained(model_uri: str) -> tuple[dict, str] | None:
    """(hyperparameters, weights path) that a Trainer saved in its Model artifact at
    `model_uri`, or None for a model trained before they were kept."""
    folder = os.path.join(model_uri, names.KERAS_DIR)
    hp_path = os.path.join(folder, names.KERAS_HYPERPARAMETERS)
    weights = os.path.join(folder, names.KERAS_WEIGHTS)
    if not (os.path.exists(hp_path) and os.path.exists(weights)):
        return None
    with open(hp_path) as f:
        return json.load(f), weights


def is_nas(hyperparameters: dict | None) -> bool:
    """Whether these hyperparameters come from the NAS tuner (a candidate or the baseline)."""
    if not hyperparameters:
        return False
    values = keras_tuner.HyperParameters.from_config(hyperparameters).values
    return SPACE_KEY in values or bool(baseline.module_of(values))
