"""core/tfrecord.py reads and writes what TensorFlow reads and writes, plain and gzipped, without
TensorFlow; a file that is not a TFRecord is named, never read as data."""

from __future__ import annotations

import numpy as np
import pytest

from core import tfrecord

ROWS = [
    {
        "signal": ("float", [i * 0.5 + j for j in range(40)]),
        "label": ("int64", [i % 3 - 1]),
        "name": ("bytes", ["é x".encode()]),
        "empty": ("bytes", []),
    }
    for i in range(50)
]


@pytest.mark.parametrize("gzipped", [False, True])
def test_tensorflow_reads_what_we_write(tmp_path, gzipped):
    import tensorflow as tf

    path = str(tmp_path / "x.tfrecord")
    tfrecord.write(path, ROWS, gzipped=gzipped)
    assert tfrecord.compression(path) == ("GZIP" if gzipped else "")
    ds = tf.data.TFRecordDataset([path], compression_type=tfrecord.compression(path))
    read = [tf.train.Example.FromString(r.numpy()).features.feature for r in ds]
    assert len(read) == len(ROWS)
    for got, row in zip(read, ROWS, strict=True):
        assert list(got["label"].int64_list.value) == row["label"][1]
        np.testing.assert_allclose(got["signal"].float_list.value, row["signal"][1])
        assert list(got["name"].bytes_list.value) == row["name"][1]


@pytest.mark.parametrize("gzipped", [False, True])
def test_we_read_what_tensorflow_writes(tmp_path, gzipped):
    import tensorflow as tf

    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path, options="GZIP" if gzipped else None) as w:
        for row in ROWS:
            feature = {
                "signal": tf.train.Feature(float_list=tf.train.FloatList(value=row["signal"][1])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=row["label"][1])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            w.write(example.SerializeToString())
    ours = list(tfrecord.examples(path))
    assert len(ours) == len(ROWS) and ours[3]["label"] == ("int64", [-1])
    np.testing.assert_allclose(ours[5]["signal"][1], ROWS[5]["signal"][1])
    assert tfrecord.is_tfrecord(path)


def test_other_files_are_not_tfrecords(tmp_path):
    manifest = tmp_path / "dataset.json"
    manifest.write_text('{"label": "label"}')
    assert not tfrecord.is_tfrecord(str(manifest))
    with pytest.raises(tfrecord.TFRecordError, match="dataset.json"):
        list(tfrecord.records(str(manifest)))
    cut = tmp_path / "cut.tfrecord"
    tfrecord.write(str(cut), ROWS[:2])
    cut.write_bytes(cut.read_bytes()[:-30])
    with pytest.raises(tfrecord.TFRecordError, match="record 1"):
        list(tfrecord.records(str(cut)))
