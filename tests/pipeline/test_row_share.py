"""A search's row share (row fidelity) over gzip TFRecords shaped like Transform's output
(components/nas_tuner/tf_data.py, row_cache.py): the share is spread over the split, read from
the TFRecords once, and later epochs and trials read only its cached rows; every trial is
scored on the same validation rows, in the same order, cached or not."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core import tfrecord

ROWS = 900  # training rows written; every 10th has no label
BATCH = 64


def _write(folder, rows: int) -> list[str]:
    """Rows ordered by `t_xf` (a table sorted by time): a biased head would show in `t`."""
    os.makedirs(folder)
    path = os.path.join(folder, "part-00000-of-00001.gz")
    table = [
        {
            "t_xf": ("float", [float(i)]),
            "x_xf": ("float", [i * 0.5, -i * 0.5]),
            "label_xf": ("int64", [-1 if i % 10 == 9 else i % 3]),
        }
        for i in range(rows)
    ]
    tfrecord.write(path, table, gzipped=True)
    return [path]


@pytest.fixture
def source(tmp_path):
    """(reader, plan, calls): `calls[split]` counts the passes read from the TFRecords."""
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx_bsl.public import tfxio

    from components.nas_tuner import tf_data

    files = {
        "train": _write(str(tmp_path / "train"), ROWS),
        "validation": _write(str(tmp_path / "validation"), 300),
    }
    spec = {
        "t_xf": tf.io.FixedLenFeature([], tf.float32),
        "x_xf": tf.io.FixedLenFeature([2], tf.float32),
        "label_xf": tf.io.FixedLenFeature([], tf.int64),
    }
    schema = schema_utils.schema_from_feature_spec(spec)
    calls = {"train": 0, "validation": 0}

    def factory(patterns, options, schema):
        split = "train" if patterns == files["train"] else "validation"
        calls[split] += 1
        return tfxio.TFExampleRecord(patterns, schema=schema).TensorFlowDataset(options)

    reader = tf_data.reader(factory, files.__getitem__, schema, "label", "classification")
    plan = {"train_rows": reader.count("train"), "validation_rows": reader.count("validation")}
    calls.update(train=0, validation=0)
    return reader, plan, calls


def _data(reader, plan, cache_dir, validation_sample=0):
    from components.nas_tuner import tf_data

    return tf_data.TFRecordData(
        reader, plan, seed=3, validation_sample=validation_sample, row_bytes=24, cache_dir=cache_dir
    )


def _epoch_t(data, rows: int, epoch: int) -> np.ndarray:
    """The `t` of the rows one epoch of `rows` training rows trains on."""
    steps = data.steps_for(rows, BATCH)
    ds = data.train_batches(BATCH, rows, seed=1, epoch=epoch).take(steps)
    return np.concatenate([x["t_xf"].numpy() for x, _y in ds])[:rows]


def _spread_t(labelled: np.ndarray, keep: int) -> np.ndarray:
    """Row i of the labelled rows is kept when floor((i+1)k/n) > floor(ik/n)."""
    n = len(labelled)
    i = np.arange(n)
    return labelled[(i + 1) * keep // n > i * keep // n]


def test_a_share_is_spread_and_read_from_the_split_once(source, tmp_path):
    reader, plan, calls = source
    labelled = np.array([i for i in range(ROWS) if i % 10 != 9], "float32")
    assert plan["train_rows"] == len(labelled) == 810
    cache = str(tmp_path / "cache")
    data = _data(reader, plan, cache)
    keep = data.rows_for(1 / 9)
    assert keep == 90
    first = _epoch_t(data, keep, 0)
    # One epoch is one pass over the share: every kept row once, spread over the whole split.
    np.testing.assert_array_equal(np.sort(first), _spread_t(labelled, keep))
    assert first.max() > 0.95 * ROWS and first.min() < 0.05 * ROWS
    assert calls["train"] == 1
    # The cache holds the share's rows only.
    (cached,) = [d for d in os.listdir(cache) if d.startswith("train-90-of-810-")]
    import tensorflow as tf

    rows = tf.data.Dataset.load(os.path.join(cache, cached)).map(lambda _i, b: b).unbatch()
    assert sorted(float(x["t_xf"]) for x, _y in rows) == list(_spread_t(labelled, keep))
    # A later epoch, and another trial (a new TFRecordData on the same cache), read the cache.
    second = _epoch_t(data, keep, 1)
    again = _epoch_t(_data(reader, plan, cache), keep, 0)
    assert calls["train"] == 1
    np.testing.assert_array_equal(np.sort(second), np.sort(first))
    np.testing.assert_array_equal(np.sort(again), np.sort(first))
    assert not np.array_equal(second, first)  # shuffled again
    # Another share is its own cache entry, read from the split once.
    third = data.rows_for(1 / 3)
    np.testing.assert_array_equal(np.sort(_epoch_t(data, third, 0)), _spread_t(labelled, third))
    assert calls["train"] == 2
    assert not [d for d in os.listdir(cache) if ".tmp-" in d]  # nothing left half-written


def test_validation_rows_and_order_do_not_depend_on_the_cache(source, tmp_path):
    reader, plan, calls = source

    def validation(data):
        return [
            (float(t), int(y))
            for x, ys in data.validation_batches(BATCH)
            for t, y in zip(x["t_xf"].numpy(), ys.numpy(), strict=True)
        ]

    streamed = validation(_data(reader, plan, None, validation_sample=100))
    assert calls["validation"] == 1
    assert len(streamed) == 100 and all(y >= 0 for _t, y in streamed)
    assert [t for t, _ in streamed] == sorted(t for t, _ in streamed)  # the split's order
    cached = _data(reader, plan, str(tmp_path / "cache"), validation_sample=100)
    assert validation(cached) == streamed
    assert validation(cached) == streamed
    assert calls["validation"] == 2  # the streamed pass, then the cache's one
