"""Classification or regression, inferred from the label column of the data (Setting `task`:
"auto"), or given ("classification" / "regression").

The rule, on up to LIMIT present label values: text values make a classification; numbers make a
regression unless they are all whole numbers with at most MAX_CLASSES distinct values (class
codes). Read with the csv module or, for TFRecord folders, as tf.Examples: cheap enough to run
where the pipeline is compiled, so every node of a run sees the same task.
"""

from __future__ import annotations

import csv
import glob
import os

from nas import task as engine_tasks  # standard library only

TASKS = engine_tasks.NAMES
CLASSIFICATION = engine_tasks.CLASSIFICATION.name
REGRESSION = engine_tasks.REGRESSION.name
MAX_CLASSES = 20
LIMIT = 5000


class TaskError(ValueError):
    """The label cannot decide the task (missing column, no values)."""


def infer(values: list[str], label: str) -> tuple[str, str]:
    """(task, why) from the label's values as text."""
    present = [v.strip() for v in values if v is not None and v.strip() != ""]
    if not present:
        raise TaskError(
            f"label {label!r} has no values in the data: cannot infer the task "
            "(set the task setting to skip inference)"
        )
    try:
        numbers = [float(v) for v in present]
    except ValueError:
        return CLASSIFICATION, f"label {label!r} holds text values"
    distinct = len(set(numbers))
    if all(n.is_integer() for n in numbers) and distinct <= MAX_CLASSES:
        return CLASSIFICATION, (
            f"label {label!r} holds {distinct} distinct whole numbers (<= {MAX_CLASSES}: classes)"
        )
    return REGRESSION, f"label {label!r} is numeric with {distinct} distinct values"


def label_values(data_dir: str, label: str, limit: int = LIMIT) -> list[str]:
    """Up to `limit` label values (as text) from the CSV files or gzipped TFRecords."""
    csvs = sorted(glob.glob(os.path.join(data_dir, "*.csv")))
    out: list[str] = []
    if csvs:
        for path in csvs:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                if label not in (reader.fieldnames or []):
                    raise TaskError(
                        f"label {label!r} is not a column of {path} "
                        f"(columns: {', '.join(reader.fieldnames or [])})"
                    )
                for row in reader:
                    out.append(row[label])
                    if len(out) >= limit:
                        return out
        return out
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(data_dir, "*")))
    try:
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit):
            feature = tf.train.Example.FromString(record.numpy()).features.feature.get(label)
            values = []
            if feature is not None:
                values = feature.bytes_list.value or feature.int64_list.value
                values = values or feature.float_list.value
            v = values[0] if values else ""
            out.append(v.decode() if isinstance(v, bytes) else str(v))
    except (tf.errors.OpError, ValueError) as e:
        raise TaskError(
            f"cannot read the label {label!r} from the TFRecords in {data_dir} to infer the "
            f"task ({type(e).__name__}: {e}); set the task setting to skip inference"
        ) from e
    return out


def resolve(setting: str, data_dir: str, label: str) -> tuple[str, str]:
    """(task, why): the setting when it names a task, else inferred from the data.

    Data that cannot decide (no such column, no values, unreadable files) gives classification
    with the reason: the pipeline still compiles, so ExampleGen or the validator names the
    problem in the node where it belongs (e.g. LABEL_MISSING), not in every node at once."""
    if setting in TASKS:
        return setting, "set by the task setting"
    if setting != "auto":
        raise TaskError(f"task={setting!r} is not 'auto' or one of {list(TASKS)}")
    try:
        return infer(label_values(data_dir, label), label)
    except TaskError as e:
        return CLASSIFICATION, f"{e}; {CLASSIFICATION} until the data says otherwise"
