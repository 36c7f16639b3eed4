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

import math

import tensorflow as tf
import tensorflow_transform as tft

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
    # The training rows per class (`count class` lines), for class weights and the trivial
    # baseline's prior (components/nas_tuner/tf_data.py reads it).
    tft.vocabulary(
        tf.boolean_mask(text, found), vocab_filename=names.label_counts(label), store_frequency=True
    )
    return tft.apply_vocabulary(tf.where(found, text, ""), vocabulary, default_value=-1)


def _label_value(y, label: str, classes: list) -> tf.Tensor:
    """The value itself, as a float (missing: NaN)."""
    return _dense(_float(y), NAN)


# How the label is encoded, by the task's `label_encoding` (core/tasks.py).
LABEL_ENCODINGS = {"classes": _label_index, "value": _label_value}
TRANSFORM_KEYS = ("label", "label_encoding", "classes", "feature_shapes", "categorical_features")
TRANSFORM_KEYS += ("ignore", "hashed", "timestamp", "text")  # core/columns.py's COLUMN_KEYS
TEXT_PAD = "<pad>"  # no word (punctuation is dropped): the padding, id 0 of every text vocabulary


def _hashed(x, vocabulary: str) -> tf.Tensor:
    """An ID-like column kept as a category: its value's text hashed to core/columns.py's
    HASH_BUCKETS buckets, each bucket a category (missing: its own token)."""
    from core import columns

    if x.dtype != tf.string:
        x = _values(x, tf.strings.as_string)
    bucket = _values(x, lambda v: tf.strings.to_hash_bucket_fast(v, columns.HASH_BUCKETS))
    return _category(_values(bucket, tf.strings.as_string), vocabulary)


def _days_from_civil(year, month, day) -> tf.Tensor:
    """Days since 1970-01-01 of a proleptic Gregorian date (int64 tensors; H. Hinnant's)."""
    year = year - tf.cast(month <= 2, tf.int64)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    return era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468


def _month_of_days(days) -> tf.Tensor:
    """The month (1 to 12) of a day counted from 1970-01-01 (int64; H. Hinnant's)."""
    z = days + 719468
    of_era = z - (z // 146097) * 146097
    year = (of_era - of_era // 1460 + of_era // 36524 - of_era // 146096) // 365
    of_year = of_era - (365 * year + year // 4 - year // 100)
    shifted = (5 * of_year + 2) // 153
    return tf.where(shifted < 10, shifted + 3, shifted - 9)


def _iso_time(text) -> tuple:
    """(days since 1970-01-01, seconds into the day, month, valid) of [batch] ISO 8601 text in
    core/columns.py's ISO_PATTERN; an offset is ignored (the wall-clock time as written).
    Anything else (missing, another form, a field out of range) is not valid."""
    from core import columns

    ok = tf.strings.regex_full_match(text, columns.ISO_PATTERN)
    text = tf.where(ok, text, "1970-01-01")
    text = tf.where(tf.strings.length(text) == 10, text + " 00:00", text) + ":00"

    def number(pos: int, width: int):
        return tf.strings.to_number(tf.strings.substr(text, pos, width), tf.int64)

    year, month, day, hour, minute = (
        number(0, 4),
        number(5, 2),
        number(8, 2),
        number(11, 2),
        number(14, 2),
    )
    seconds = tf.where(tf.strings.substr(text, 16, 1) == ":", tf.strings.substr(text, 17, 2), "0")
    second = tf.strings.to_number(seconds, tf.int64)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    ok &= (hour < 24) & (minute < 60) & (second < 61)
    return _days_from_civil(year, month, day), hour * 3600 + minute * 60 + second, month, ok


def _epoch_time(x) -> tuple:
    """(days since 1970-01-01, seconds into the day, month, valid) of epoch seconds (UTC)."""
    seconds = _dense(_float(x, tf.float64), NAN)
    ok = tf.math.is_finite(seconds)
    seconds = tf.where(ok, seconds, 0.0)
    days = tf.cast(tf.math.floor(seconds / 86400.0), tf.int64)
    into = tf.cast(tf.math.floor(seconds), tf.int64) - days * 86400
    return days, into, _month_of_days(days), ok


def _time(x, name: str) -> dict:
    """A time column's features (core/columns.py's TIME_PARTS, named by core/names.py's
    `time_xf`), each [batch, 1] float32: hour of day (with its minutes), weekday (Monday 0) and
    month as sin/cos on their circles, 0 where the time is missing or unreadable; `elapsed`:
    days since the training data's earliest time over the training data's span in days (0 to
    1 in training, later times above 1), a missing time the training mean."""
    from core import columns, names

    if x.dtype == tf.string:
        days, into, month, ok = _iso_time(_dense(x, ""))
    else:
        days, into, month, ok = _epoch_time(x)
    hour = tf.cast(into, tf.float32) / 3600.0
    weekday = tf.cast((days + 3) % 7, tf.float32)  # 1970-01-01 was a Thursday
    month = tf.cast(month - 1, tf.float32)
    t = tf.cast(days, tf.float64) + tf.cast(into, tf.float64) / 86400.0
    present = tf.boolean_mask(t, ok)
    low = tf.cast(_finite(tft.min(present), 0.0), tf.float64)
    span = tf.cast(_finite(tft.max(present), 1.0), tf.float64) - low
    mean = tf.cast(_finite(tft.mean(present), 0.0), tf.float64)
    elapsed = (tf.where(ok, t, mean) - low) / tf.where(span > 0, span, 1.0)
    values = {"elapsed": tf.cast(elapsed, tf.float32)}
    for part, value, period in (("hour", hour, 24.0), ("weekday", weekday, 7.0)):
        angle = 2 * math.pi * value / period
        values[f"{part}_sin"], values[f"{part}_cos"] = tf.sin(angle), tf.cos(angle)
    angle = 2 * math.pi * month / 12.0
    values["month_sin"], values["month_cos"] = tf.sin(angle), tf.cos(angle)
    zero = tf.zeros_like(hour)
    return {
        names.time_xf(name, part): tf.expand_dims(
            values[part] if part == "elapsed" else tf.where(ok, values[part], zero), -1
        )
        for part in columns.TIME_PARTS
    }


def words(text) -> tf.RaggedTensor:
    """[batch, (words)] of [batch] text: lower case, every run of characters that are not
    letters or digits a word boundary (so punctuation is dropped)."""
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.split(tf.strings.regex_replace(text, r"[^\pL\pN]+", " "))


def ngrams(padded: tf.Tensor, n: int) -> tf.Tensor:
    """[batch, length * n] of [batch, length] words ("" past a text's end): at each position
    the word, then the n-grams of 2 to `n` words starting there, joined by a space ("" where
    the text ends before the n-gram does)."""
    grams, parts, present = [padded], [padded], padded != ""
    for k in range(1, n):
        parts.append(tf.pad(padded[:, k:], [[0, 0], [0, k]], constant_values=""))
        present &= parts[-1] != ""
        joined = tf.strings.reduce_join(tf.stack(parts, -1), axis=-1, separator=" ")
        grams.append(tf.where(present, joined, ""))
    return tf.reshape(tf.stack(grams, -1), [-1, padded.shape[1] * n])


def _text(x, vocabulary: str, n: int = 1) -> tf.Tensor:
    """[batch, TEXT_LENGTH * n] int64 (core/columns.py): a free-text column's first words
    (`words`), each followed by the n-grams of 2 to `n` words starting at it (`ngrams`), as
    ids over the training data's TEXT_VOCABULARY most frequent words and n-grams, where
    TEXT_PAD (id 0) pads a shorter text (a missing one is all padding) and a token out of the
    vocabulary has the last id (one OOV bucket)."""
    from core import columns

    if x.dtype != tf.string:
        x = _values(x, tf.strings.as_string)
    tokens = words(_dense(x, ""))[:, : columns.TEXT_LENGTH]
    padded = tokens.to_tensor(default_value="", shape=[None, columns.TEXT_LENGTH])
    grams = ngrams(padded, n)
    vocab = tft.vocabulary(
        tf.boolean_mask(grams, grams != ""),
        top_k=columns.TEXT_VOCABULARY,
        vocab_filename=vocabulary,
        reserved_tokens=[TEXT_PAD],
    )
    grams = tf.where(grams == "", TEXT_PAD, grams)
    return tft.apply_vocabulary(grams, vocab, num_oov_buckets=OOV_BUCKETS)


def preprocessing_fn(inputs, custom_config):
    """Per column, by its type and the data settings (custom_config, pipelines/retrain.py):
    - numbers: z-score, a missing value the mean of the present ones (0 when none is);
    - text, and integers listed in `categorical_features`: vocabulary ids with an
      out-of-vocabulary bucket (a missing value has its own token);
    - columns in `feature_shapes`: numbers as a flat [size] tensor (a 1-D signal as
      z-scores, an image scaled to [0, 1]), encoded PNG/JPEG bytes decoded to that shape;
    - columns in `ignore` (declared, or ID-like: pipelines/data_checks.py) are left out;
      those in `hashed` are categories of their hashed values;
    - columns in `timestamp` (ISO 8601 text, or epoch seconds) become time features (`_time`):
      the raw value is no feature itself;
    - columns in `text` (free text) become fixed-length word ids (`_text`), with the word
      n-grams `text_ngrams` asks for;
    - the label, as the task encodes it (`label_encoding`): its index in `classes`
      (classification) or its value as a float (regression).
    Outputs are named by core/names.py's `xf` (safe names for any column name)."""
    config = _config(custom_config, *TRANSFORM_KEYS)
    label, encoding, classes, shapes, categorical, ignore, hashed, times, texts = config
    if encoding not in LABEL_ENCODINGS:
        raise KeyError(f"label_encoding {encoding!r} is not one of {list(LABEL_ENCODINGS)}")
    from core import names

    outputs = {}
    for name, x in inputs.items():
        if name == label or name in ignore:
            continue
        if name in times:
            outputs.update(_time(x, name))
        elif name in texts:
            (n,) = _config(custom_config, "text_ngrams")  # asked for only with a text column
            outputs[xf(name)] = _text(x, names.feature_name(name), n)
        elif name in hashed:
            outputs[xf(name)] = _hashed(x, names.feature_name(name))
        elif name in shapes and x.dtype == tf.string:
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


# ---------------------------------------------------------------------------- training


def run_fn(fn_args):
    """Train the searched architecture (or the small default network) on every training row,
    keep its best epoch, and export the serving SavedModel with its training record: see
    pipelines/training.py."""
    from pipelines import training

    training.run(fn_args)
