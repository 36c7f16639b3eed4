"""The search's and the Trainer's data on tf.data (TensorFlow only): the engine's `SearchData`
over Transform's transformed examples, and the row counts an epoch is sized by.

- Row counts come from StatisticsGen's statistics of each split (rows minus missing labels);
  the training class counts from Transform's label counts (the user module writes them).
- An epoch is one pass over the training rows: `train_batches` repeats a shuffled pass, and
  the engine takes ceil(rows / batch) steps an epoch (capped by the operator's `steps_cap`).
- A row subsample (row fidelity) is spread over the whole split (every k-th row), never its
  first rows: a table sorted by time or label would give a biased head. Rows are chosen, and
  those without a label left out, a parsed batch at a time.
- In a search, each share of a split is read from the TFRecords once and cached on disk
  (row_cache.py, in the search's state directory): later epochs and trials of that share read
  only its rows, in shards drawn in a new order each pass.
- Every trial is scored on the same validation rows, in the same order: all of them, or
  `validation_sample` of them spread over the split.
- Nothing materialises a split: rows stream from the gzip TFRecords (or a share's cache); a
  pass is shuffled in two bounded buffers: whole parsed batches, up to SHUFFLE_BYTES of rows,
  then single rows, SHUFFLE_ROWS of them, so the first batch waits for those and no more; a
  share is cached only when it takes at most CACHE_BYTES.
"""

from __future__ import annotations

import hashlib
import math

import tensorflow as tf

from components.nas_tuner.row_cache import RowCache
from core import names, splits, tasks
from nas.data import SearchData

READ_BATCH = 1024  # rows per parse: the files are read in batches, then regrouped
SHUFFLE_ROWS = 10_000  # the buffer that shuffles single rows (and the batches' one, at least)
SHUFFLE_BYTES = 64 << 20  # the buffer that shuffles whole batches of rows: at most this much
CACHE_BYTES = 4 << 30  # a search caches a share of a split when its rows take at most this
CACHE_SHARDS = 16  # shards of a cached training share (read in a new order each pass)


def labelled_rows(statistics, split: str, label: str) -> int:
    """Rows of `split` with a label, from StatisticsGen's output (raw data: a missing label is
    a missing value of the label column)."""
    import tensorflow_data_validation as tfdv
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    uri = artifact_utils.get_split_uri([statistics], split)
    stats = tfdv.load_stats_binary(io_utils.get_only_uri_in_dir(uri)).datasets[0]
    missing = 0
    for f in stats.features:
        name = ".".join(f.path.step) if f.path.step else f.name
        kind = f.WhichOneof("stats")
        if name == label and kind:
            missing = getattr(f, kind).common_stats.num_missing
    return int(stats.num_examples - missing)


def class_counts(tft_out, label: str) -> list[int] | None:
    """Training rows per class, in the head's order (Transform's label counts), or None."""
    path = tft_out.vocabulary_file_by_name(names.label_counts(label))
    if not path or not tf.io.gfile.exists(path):
        return None
    counts = {}
    with tf.io.gfile.GFile(path, "rb") as f:
        for line in f:
            count, _, text = line.rstrip(b"\n").partition(b" ")
            counts[text.decode()] = int(float(count))
    vocabulary = tasks.label_vocabulary(tft_out, label)
    classes = [c.decode() for c in tft_out.vocabulary_by_name(vocabulary)]
    return [counts.get(c, 0) for c in classes]


def data_plan(statistics, tft_out, label: str, task: str, steps_cap: int) -> dict:
    """What sizes an epoch: labelled training and validation rows, class counts, the cap."""
    counts = class_counts(tft_out, label) if task == tasks.CLASSIFICATION.name else None
    return {
        "train_rows": labelled_rows(statistics, splits.TRAIN, label),
        "validation_rows": labelled_rows(statistics, splits.VALIDATION, label),
        "class_counts": counts,
        "steps_cap": int(steps_cap or 0),
    }


def weighted(batches, class_weight: dict | None):
    """Batches of (features, label) as (features, label, the weight of each row's class)."""
    if not class_weight:
        return batches
    table = tf.constant([class_weight.get(i, 1.0) for i in range(max(class_weight) + 1)])
    return batches.map(
        lambda x, y: (x, y, tf.gather(table, tf.reshape(tf.cast(y, tf.int32), [-1])))
    )


def spread(batches, keep: int, total: int):
    """`keep` of the `total` rows of `batches` (batches of rows), spread evenly over them (row i
    is kept when floor((i + 1) * keep / total) > floor(i * keep / total)), in their order and
    still in batches: rows are chosen a batch at a time, not one by one."""
    if keep >= total:
        return batches
    keep, total = tf.constant(keep, tf.int64), tf.constant(total, tf.int64)

    def step(seen, batch):
        i = seen + tf.range(tf.shape(batch[1], out_type=tf.int64)[0])
        kept = (i + 1) * keep // total > i * keep // total
        return seen + tf.size(i, out_type=tf.int64), _masked(batch, kept)

    return batches.scan(tf.constant(0, tf.int64), step)


def _masked(batch, kept):
    return tf.nest.map_structure(lambda t: tf.boolean_mask(t, kept), batch)


class TFRecordData(SearchData):
    """The engine's SearchData over one Examples artifact's `train` and `validation` splits,
    read by a `SplitReader`. With `cache_dir` (the search's), each share of a split is read
    from the TFRecords once and then from its cache (row_cache.py), when it takes at most
    CACHE_BYTES; without it (the Trainer, one pass an epoch over every row) rows stream from
    the TFRecords on every pass."""

    def __init__(
        self,
        reader,
        plan: dict,
        *,
        seed: int,
        validation_sample: int,
        row_bytes: int,
        cache_dir: str | None = None,
    ):
        self._reader, self._seed, self._row_bytes = reader, seed, max(int(row_bytes), 1)
        self._cache = RowCache(cache_dir, reader, READ_BATCH) if cache_dir else None
        self.train_rows = int(plan["train_rows"])
        sample = int(validation_sample or 0)
        available = int(plan["validation_rows"])
        self.validation_rows = min(available, sample) if sample else available
        self._validation_available = available
        counts = plan.get("class_counts")
        self.class_counts = tuple(counts) if counts else None
        self.steps_cap = int(plan.get("steps_cap") or 0)
        self._buffer = max(SHUFFLE_ROWS, SHUFFLE_BYTES // self._row_bytes)

    def share(self, split: str, keep: int, total: int, *, seed=None):
        """One pass of `keep` of the `total` rows of `split`, spread over it, in batches: from
        the cache where there is one (the shards in an order drawn from `seed`), else from
        the TFRecords, in order."""

        def source():
            return spread(self._reader.batches(split), keep, total)

        if self._cache is None or keep * self._row_bytes > CACHE_BYTES:
            return source()
        shards = CACHE_SHARDS if split == splits.TRAIN else 1
        return self._cache.rows(split, keep, total, source, shards=shards, seed=seed)

    def train_batches(
        self, batch_size: int, rows: int | None = None, *, seed=0, epoch=0, class_weight=None
    ):
        """A streaming source: `seed` and `epoch` only seed the shuffle (a resumed trial sees
        other batches than an uninterrupted one would, from the same rows). With
        `class_weight`, each row carries its class's weight (features, label, weight)."""
        total = self.train_rows
        rows = total if rows is None else min(int(rows), total)
        order = self._seed + 7919 * seed + epoch
        ds = self.share(splits.TRAIN, rows, total, seed=order)
        ds = ds.shuffle(max(1, min(self._buffer, rows) // READ_BATCH), seed=order)
        ds = ds.unbatch().shuffle(min(SHUFFLE_ROWS, max(rows, 1)), seed=order)
        ds = ds.repeat().batch(batch_size)
        return weighted(ds, class_weight).prefetch(tf.data.AUTOTUNE)

    def validation_batches(self, batch_size: int):
        ds = self.share(splits.VALIDATION, self.validation_rows, self._validation_available)
        return ds.rebatch(batch_size).prefetch(tf.data.AUTOTUNE)  # no row-at-a-time step

    def sample_batch(self, batch_size: int):
        for features, _ in self.validation_batches(batch_size).take(1):
            return features
        raise ValueError("the validation split has no labelled rows")


class SplitReader:
    """A split's labelled rows from a tfxio dataset factory (TFX's, or the Trainer's data
    accessor's) and `files_of(split)` (the split's file patterns): `batches(split)` is one
    pass in batches of at most READ_BATCH rows, without the rows whose label is missing."""

    def __init__(self, factory, files_of, schema, label: str, task: str):
        self._factory, self._files_of, self._schema = factory, files_of, schema
        self._label, self._present = names.xf(label), tasks.get(task).label_present

    def batches(self, split: str):
        from tfx_bsl.public import tfxio

        options = tfxio.TensorFlowDatasetOptions(
            batch_size=READ_BATCH, label_key=self._label, shuffle=False, num_epochs=1
        )
        ds = self._factory(self._files_of(split), options, self._schema)
        present = self._present
        return ds.map(lambda x, y: _masked((x, y), tf.vectorized_map(present, y)))

    def count(self, split: str) -> int:
        """The split's labelled rows, counted in one pass."""
        n = self.batches(split).reduce(tf.constant(0, tf.int64), lambda n, b: n + _rows(b))
        return int(n)

    def fingerprint(self, split: str) -> str:
        """A hash of the split's files: their names, sizes and modification times."""
        digest = hashlib.sha256()
        for pattern in self._files_of(split):
            for path in sorted(tf.io.gfile.glob(pattern)):
                stat = tf.io.gfile.stat(path)
                digest.update(f"{path}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
        return digest.hexdigest()[:16]


def _rows(batch):
    return tf.shape(batch[1], out_type=tf.int64)[0]


def reader(factory, files_of, schema, label: str, task: str) -> SplitReader:
    """The SplitReader of a tfxio dataset factory and `files_of(split)`."""
    return SplitReader(factory, files_of, schema, label, task)


def row_bytes(input_spec) -> int:
    """About how many bytes one row's features take in memory (for the shuffle buffer)."""
    return 8 * sum(math.prod(f.shape) if f.shape else 1 for f in input_spec.features)
