"""A search's row shares on local disk (TensorFlow only): each share of a split that the search
trains or scores on is read from the gzip TFRecords once, in one pass over the split, and
written in tf.data's save format; every later epoch and trial of that share reads only the
share's rows, already parsed.

- The cache is keyed by the split's fingerprint (its files' names, sizes and times) and the
  share (`keep` of `total` rows), so new data never reads old rows.
- A share is written under a temporary name and renamed when complete: a search stopped while
  writing leaves no share half-written, and parallel workers that write the same share at once
  keep one of them.
- A training share is written in `shards` shards, each a contiguous run of its rows; a pass
  reads them in an order drawn from its seed, READ_SHARDS at a time, so that the shuffle
  buffer mixes rows from parts of the split drawn anew each pass. A validation share is one
  shard, read in order.
- The folder lies in the search's state directory, which the Tuner removes when the search
  succeeds (components/nas_tuner/executor.py); a failed search keeps it for its resume.
"""

from __future__ import annotations

import os
import uuid

import tensorflow as tf

READ_SHARDS = 4  # training shards read at once (interleaved)


class RowCache:
    """Row shares of the splits of one `SplitReader` (tf_data.py), cached under `folder` in
    batches of `batch` rows."""

    def __init__(self, folder: str, reader, batch: int):
        self.folder, self._reader, self.batch = folder, reader, batch

    def path(self, split: str, keep: int, total: int) -> str:
        """Where the share `keep` of `total` of `split` is (or will be) cached."""
        name = f"{split}-{keep}-of-{total}-{self._reader.fingerprint(split)}"
        return os.path.join(self.folder, name)

    def rows(self, split: str, keep: int, total: int, source, *, shards: int, seed=None):
        """One pass of the share as batches of (features, label), from the cache (written from
        `source()`, the share's batches, when it is not there yet): the shards in an order
        drawn from `seed`, or, without a seed, in order."""
        path = self.path(split, keep, total)
        if not tf.io.gfile.exists(path):
            write(path, source().rebatch(self.batch), shards, -(-keep // self.batch))

        def read(datasets):
            if seed is None:
                return datasets.flat_map(lambda d: d)
            datasets = datasets.shuffle(shards, seed=seed)
            return datasets.interleave(lambda d: d, cycle_length=min(READ_SHARDS, shards))

        return tf.data.Dataset.load(path, reader_func=read).map(lambda _i, batch: batch)


def write(path: str, batches, shards: int, count: int) -> None:
    """`batches` (`count` of them) saved at `path` in `shards` contiguous runs (batch i in shard
    floor(i * shards / count)), whole or not at all."""
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    shards, count = tf.constant(shards, tf.int64), tf.constant(max(count, 1), tf.int64)
    batches.enumerate().save(tmp, shard_func=lambda i, _batch: i * shards // count)
    try:
        tf.io.gfile.rename(tmp, path)
    except (tf.errors.OpError, OSError):  # another process wrote it first: keep theirs
        tf.io.gfile.rmtree(tmp)
