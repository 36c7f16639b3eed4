"""What an epoch on a row share (row fidelity) costs: the time to its first batch and per
batch, for shares 1/9, 1/3 and all of the rows, read by components/nas_tuner/tf_data.py as the
search reads them (tfx_bsl's TFExampleRecord factory, the Tuner's TFRecordData).

The data is shaped like Transform's output: gzip TFRecords of tf.train.Examples with `FEATURES`
float features (`f00_xf`, ...) and an int64 label (`label_xf`), written once per row count
under --folder. Each share runs two epochs (two `train_batches` calls, as the engine makes one
per epoch) with the cache folder, if the data supports one, removed at the end.

    nice -n 5 .venv/tfx/bin/python bench/scale/row_share.py --rows 400000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.nas_tuner import tf_data  # noqa: E402
from core import splits  # noqa: E402

FEATURES = 20
LABEL = "label"
SHARDS = 2  # Transform writes a few files per split
SHARES = ((1, 9), (1, 3), (1, 1))


def feature_spec() -> dict:
    spec = {f"f{i:02d}_xf": tf.io.FixedLenFeature([], tf.float32) for i in range(FEATURES)}
    spec[f"{LABEL}_xf"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def write_split(folder: str, rows: int, seed: int) -> list[str]:
    """`rows` examples in SHARDS gzip files (kept and reused when complete)."""
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, f"part-{s:05d}-of-{SHARDS:05d}.gz") for s in range(SHARDS)]
    done = os.path.join(folder, "DONE")
    if os.path.exists(done):
        return paths
    rng = np.random.default_rng(seed)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    per = math.ceil(rows / SHARDS)
    for s, path in enumerate(paths):
        n = min(per, rows - s * per)
        x = rng.normal(size=(n, FEATURES)).astype("float32")
        y = rng.integers(0, 3, n)
        with tf.io.TFRecordWriter(path, options) as w:
            for i in range(n):
                feats = {
                    f"f{j:02d}_xf": tf.train.Feature(float_list=tf.train.FloatList(value=[x[i, j]]))
                    for j in range(FEATURES)
                }
                feats[f"{LABEL}_xf"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[y[i]]))
                w.write(
                    tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()
                )
    open(done, "w").close()
    return paths


def factory():
    """The factory the Tuner gets from TFX (tfxio_utils): tfx_bsl's TFExampleRecord."""
    from tfx_bsl.public import tfxio

    def make(files, options, schema):
        return tfxio.TFExampleRecord(files, schema=schema).TensorFlowDataset(options)

    return make


def epoch_cost(data, batch: int, rows: int, epoch: int, batches: int) -> dict:
    """Seconds to the first batch of one epoch's `train_batches`, and per later batch."""
    t0 = time.perf_counter()
    it = iter(data.train_batches(batch, rows, seed=0, epoch=epoch))
    next(it)
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return {
        "first_batch_s": round(first, 2),
        "per_batch_s": round((time.perf_counter() - t1) / batches, 3),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--batches", type=int, default=20, help="later batches timed per epoch")
    p.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "row_share_data"))
    args = p.parse_args(argv)
    from tensorflow_transform.tf_metadata import schema_utils

    root = os.path.join(args.folder, str(args.rows))
    t0 = time.perf_counter()
    files = {
        splits.TRAIN: write_split(os.path.join(root, "train"), args.rows, 1),
        splits.VALIDATION: write_split(os.path.join(root, "validation"), args.rows // 8, 2),
    }
    print(
        f"data: {args.rows:,} training rows ready in {time.perf_counter() - t0:.1f} s", flush=True
    )
    schema = schema_utils.schema_from_feature_spec(feature_spec())
    rows = tf_data.reader(factory(), files.__getitem__, schema, LABEL, "classification")
    plan = {"train_rows": args.rows, "validation_rows": args.rows // 8, "class_counts": None}
    out = {"rows": args.rows, "batch": args.batch, "shares": {}, "validation_pass_s": []}
    for keep, of in SHARES:
        state = tempfile.mkdtemp(prefix="row_share_state_")
        data = tf_data.TFRecordData(
            rows, plan, seed=0, validation_sample=0, row_bytes=8 * FEATURES, **cache_arg(state)
        )
        share = data.rows_for(keep / of)
        epochs = [epoch_cost(data, args.batch, share, e, args.batches) for e in range(2)]
        out["shares"][f"{keep}/{of}"] = {"rows": share, "epochs": epochs}
        print(f"share {keep}/{of} ({share:,} rows): {json.dumps(epochs)}", flush=True)
        if keep == of:  # two validation passes (the first writes the cache, if any)
            for _ in range(2):
                t0 = time.perf_counter()
                n = sum(1 for _ in data.validation_batches(args.batch))
                out["validation_pass_s"].append(round(time.perf_counter() - t0, 2))
            print(f"validation passes ({n} batches): {out['validation_pass_s']} s", flush=True)
        shutil.rmtree(state, ignore_errors=True)
    return out


def cache_arg(state: str) -> dict:
    """The cache folder argument, where this version of tf_data.py takes one."""
    import inspect

    params = inspect.signature(tf_data.TFRecordData).parameters
    return {"cache_dir": state} if "cache_dir" in params else {}


if __name__ == "__main__":
    print(json.dumps(main()))
