"""What the data says, read where the pipeline compiles, so every node of a run sees the same
answers: the task, the classes of a classification label, the features whose kind the data's
types cannot tell, and which files of the folder are data.

Read with the csv module or core/tfrecord.py, never TensorFlow: compiling must not start TF's
runtime in a process that forks nodes afterwards (pipelines/warm_executor.py). A folder's
answers are cached per folder state (its files' names, sizes and times) in the process.

- Task (Setting `task`: "auto"), on up to LIMIT present label values: text values make a
  classification; numbers make a regression unless they are all whole numbers with at most
  MAX_CLASSES distinct values (class codes).
- Classes: the `classes` setting, else the data folder's dataset.json, else every distinct
  value of the label column; of the label's type (int, float, bool for "true"/"false" text,
  else text) and sorted (numbers numerically, text lexicographically), so index i means the
  same class in every run.
- Features: fixed-length vectors (their length from the first FEATURE_SAMPLE examples) and
  declared shapes (`feature_shapes`) are tensors; integer columns listed in
  `categorical_features` are categories; encoded PNG/JPEG bytes are images.
- Files: the CSV files, else the Parquet files, else the TFRecord files (plain or gzip, told
  apart by their content; ImportExampleGen goes by the name, so a gzip file must end in .gz)
  matched by one pattern that leaves out every other file (dataset.json, README, ...).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import struct

from core import columns as dirty
from core import parquet, tfrecord
from nas import task as engine_tasks  # standard library only

TASKS = engine_tasks.NAMES
CLASSIFICATION = engine_tasks.CLASSIFICATION.name
REGRESSION = engine_tasks.REGRESSION.name
MAX_CLASSES = 20  # whole-number labels with at most this many values are class codes
MAX_CLASS_COUNT = 1000  # more distinct label values than this cannot be classes
LIMIT = 5000  # label values the task is inferred from
FEATURE_SAMPLE = 200  # TFRecord examples read for the features' lengths and kinds
MANIFEST = "dataset.json"
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
_CACHE: dict = {}


class TaskError(ValueError):
    """The label cannot decide the task (missing column, no values)."""


class DataError(ValueError):
    """The data folder or a data setting cannot be used; the message says what to change."""


def _state(data_dir: str) -> tuple:
    try:
        entries = sorted(os.scandir(data_dir), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())


def _cached(kind: str, data_dir: str, *key, compute):
    full = (kind, os.path.abspath(data_dir), _state(data_dir), *key)
    if full not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[full] = compute()
    return _CACHE[full]


# ---- files -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataFiles:
    """A folder's data: `kind` "csv", "parquet" or "tfrecord", ExampleGen's `pattern`, the
    data files."""

    kind: str
    pattern: str
    files: tuple[str, ...]


def data_files(data_dir: str) -> DataFiles:
    """The folder's data files and the pattern that matches them only; DataError when no
    pattern can leave the other files out, or a gzip file's name does not say so."""
    return _cached("files", data_dir, compute=lambda: _data_files(data_dir))


def _data_files(data_dir: str) -> DataFiles:
    names = [n for n, *_ in _state(data_dir)]
    csvs = [n for n in names if n.endswith(".csv")]
    if csvs or not names:
        return DataFiles("csv", "*.csv", tuple(os.path.join(data_dir, n) for n in csvs))
    parquets = [n for n in names if n.endswith(".parquet")]
    if parquets:
        return DataFiles("parquet", "*.parquet", tuple(os.path.join(data_dir, n) for n in parquets))
    try:
        found = tfrecord.data_files(data_dir, names)
    except tfrecord.TFRecordError as e:
        raise DataError(str(e)) from None
    if found is None:
        return DataFiles("csv", "*.csv", ())  # ExampleGen names what it does not find
    files, pattern = found
    return DataFiles("tfrecord", pattern, tuple(os.path.join(data_dir, n) for n in files))


# ---- the label -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """A column's values as ExampleGen types them: `kind` "int", "float" or "text"; values
    typed, None where missing."""

    kind: str
    values: tuple


def _f32(value: float) -> float:
    """The shortest decimal that is the same float32 (a TFRecord's 0.1 reads 0.100000001)."""
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", short))[0] == value:
            return short
    return value


def _typed(texts: list[str | None]) -> Column:
    """CSV text typed as CsvExampleGen types a column: int, else float, else text."""
    present = [t for t in texts if t is not None]
    for kind, parse in (("int", int), ("float", float)):
        try:
            parsed = {t: parse(t) for t in set(present)}
        except ValueError:
            continue
        return Column(kind, tuple(None if t is None else parsed[t] for t in texts))
    return Column("text", tuple(texts))


def label_column(data_dir: str, label: str) -> Column:
    """Every value of the label column (TaskError: no such column, unreadable files)."""
    return _cached("label", data_dir, label, compute=lambda: _label_column(data_dir, label))


def _label_column(data_dir: str, label: str) -> Column:
    try:
        files = data_files(data_dir)
    except DataError as e:
        raise TaskError(str(e)) from e
    if files.kind == "csv":
        texts: list[str | None] = []
        for path in files.files:
            try:
                with open(path, newline="", encoding="utf-8") as f:
                    reader = csv.DictReader(f)
                    bad = dirty.label_problem(label, reader.fieldnames or [], path)
                    if bad:
                        raise TaskError(bad)
                    texts += [(row[label] or "").strip() or None for row in reader]
            except UnicodeDecodeError:
                raise TaskError(dirty.utf8_problem(path)) from None
        return _typed(texts)
    kinds, values = set(), []
    try:
        for path in files.files:
            if files.kind == "parquet":
                bad = dirty.label_problem(label, parquet.names(path), path)
                if bad:
                    raise TaskError(bad)
            pq = files.kind == "parquet"
            rows = (e[label] for e in parquet.examples(path, columns=[label])) if pq else None
            for feature in rows or tfrecord.column(path, label):
                kind, got = feature or ("", [])
                if not got:
                    values.append(None)
                    continue
                kinds.add(kind)
                value = got[0]
                values.append(value.decode("utf-8", "replace") if kind == "bytes" else value)
    except (tfrecord.TFRecordError, parquet.ParquetError) as e:
        raise TaskError(
            f"cannot read the label {label!r} from the {files.kind} files in {data_dir} ({e}); "
            "set the task setting to skip inference"
        ) from e
    kind = {"int64": "int", "float": "float"}.get(next(iter(kinds), ""), "text")
    if len(kinds) > 1:
        raise TaskError(f"label {label!r} holds values of several types ({sorted(kinds)})")
    if kind == "float":
        values = [None if v is None else _f32(v) for v in values]
    return Column(kind, tuple(values))


def label_values(data_dir: str, label: str, limit: int = LIMIT) -> list[str]:
    """Up to `limit` label values as text ("" where missing)."""
    out = []
    for v in label_column(data_dir, label).values[:limit]:
        out.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
    return out


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


def _is_bool_text(values) -> bool:
    return bool(values) and all(
        isinstance(v, str) and v.strip().lower() in ("true", "false") for v in values
    )


def sorted_classes(values) -> list:
    """Distinct class values in the stable order: bools (False, True), numbers numerically,
    text lexicographically; "true"/"false" text becomes bools. DataError for a mix of text and
    numbers, a missing or empty value, or a line break."""
    values = list(values)
    if _is_bool_text(values):
        values = [v.strip().lower() == "true" for v in values]
    bad = [v for v in values if not isinstance(v, (str, int, float)) or v == ""]
    bad += [v for v in values if isinstance(v, str) and ("\n" in v or "\r" in v)]
    if bad:
        raise DataError(f"classes {bad[:3]}: a class is a number, true/false or one-line text")
    if len({isinstance(v, str) for v in values}) > 1:
        raise DataError(f"classes {values[:6]} mix text and numbers")
    if all(isinstance(v, bool) for v in values):
        return sorted(set(values))
    if any(isinstance(v, bool) for v in values) and not all(isinstance(v, str) for v in values):
        values = [int(v) if isinstance(v, bool) else v for v in values]
    return sorted(set(values))


def classes(data_dir: str, label: str, declared=()) -> tuple[list, str]:
    """(classes, where they come from): `declared` (the setting or the folder's dataset.json),
    else the label column's distinct values (see sorted_classes). [] when the data has none
    (the validator names a missing label)."""
    if declared:
        return sorted_classes(declared), "declared"
    try:
        column = label_column(data_dir, label)
    except TaskError as e:
        return [], f"none: {e}"
    found = sorted_classes({v for v in column.values if v is not None})
    if len(found) > MAX_CLASS_COUNT:
        raise DataError(
            f"label {label!r} has {len(found)} distinct values, too many classes (at most "
            f"{MAX_CLASS_COUNT}): set task regression, or name the classes in `classes`"
        )
    return found, f"the {len(found)} distinct values of {label!r} in {data_dir}"


# ---- features --------------------------------------------------------------------------------


def manifest(data_dir: str) -> dict:
    """The data folder's dataset.json ({} when it has none)."""
    path = os.path.join(data_dir, MANIFEST)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            raw = json.load(f)
        except ValueError as e:
            raise DataError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise DataError(f"{path} must hold a JSON object, got {type(raw).__name__}")
    return raw


def png_shape(data: bytes) -> list[int] | None:
    """[height, width, channels] from a PNG's header, None for anything else."""
    if not data.startswith(IMAGE_MAGIC[0]) or len(data) < 26:
        return None
    width, height = struct.unpack(">II", data[16:24])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(data[25], 3)
    return [height, width, channels]


def _profile(data_dir: str, files: DataFiles) -> dict[str, tuple[str, int, bytes]]:
    """TFRecords, Parquet: {feature: (kind, most values in one example, a first bytes value)}
    over the first FEATURE_SAMPLE rows. CSV: {column: ("csv", 1, b"")} from the header."""
    out: dict[str, tuple[str, int, bytes]] = {}
    if files.kind == "csv":
        for path in files.files[:1]:
            with open(path, newline="", encoding="utf-8", errors="replace") as f:
                out = {c: ("csv", 1, b"") for c in next(csv.reader(f), [])}
        return out
    seen = 0
    read = parquet.examples if files.kind == "parquet" else tfrecord.examples
    for path in files.files:
        for example in read(path, FEATURE_SAMPLE - seen):
            seen += 1
            for name, (kind, values) in example.items():
                _, count, first = out.get(name, (kind, 0, b""))
                first = first or (values[0] if kind == "bytes" and values else b"")
                out[name] = (kind, max(count, len(values)), first)
        if seen >= FEATURE_SAMPLE:
            break
    return out


def columns(data_dir: str) -> list[str]:
    """The data folder's column (feature) names, label included, read without TensorFlow: a
    CSV's header, the features of the first FEATURE_SAMPLE tf.Examples."""
    files = data_files(data_dir)
    return sorted(_cached("profile", data_dir, compute=lambda: _profile(data_dir, files)))


def _shape(name: str, value) -> list[int]:
    ok = isinstance(value, (list, tuple)) and 1 <= len(value) <= 3
    if not ok or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value):
        raise DataError(
            f"feature_shapes[{name!r}]={value!r}: a shape is 1 to 3 positive whole numbers, "
            "e.g. [40] or [28, 28, 1]"
        )
    return list(value)


def feature_config(data_dir: str, label: str, shapes: dict, categorical) -> dict:
    """What Transform needs to know of the features beyond their types: `feature_shapes` (the
    declared ones, every fixed-length vector's [length], every PNG's header shape) and
    `categorical_features` (integer columns that are categories). DataError for a declared
    name that is not a column, a bad shape, or a JPEG column without a declared shape."""
    files = data_files(data_dir)
    profile = _cached("profile", data_dir, compute=lambda: _profile(data_dir, files))
    columns = sorted(profile)
    declared = {name: _shape(name, shape) for name, shape in dict(shapes).items()}
    for name in [*declared, *categorical]:
        if profile and name not in profile:
            raise DataError(
                f"{name!r} is named in feature_shapes or categorical_features but is not a "
                f"column of {data_dir} (columns: {', '.join(columns)})"
            )
    found = {}
    for name, (kind, count, first) in profile.items():
        if name == label or name in declared:
            continue
        if kind in ("float", "int64") and count > 1:
            found[name] = [count]
        elif kind == "bytes" and first.startswith(IMAGE_MAGIC):
            shape = png_shape(first)
            if shape is None:
                raise DataError(
                    f"column {name!r} holds JPEG images: give their [height, width, channels] "
                    f'in feature_shapes, e.g. {{"{name}": [64, 64, 3]}}'
                )
            found[name] = shape
    return {
        "feature_shapes": {**found, **declared},
        "categorical_features": sorted(set(categorical)),
    }


def input_overrides(feature_shapes: dict) -> dict:
    """The NAS engine's input kinds for the tensor features (keyed by transformed name):
    shape [length] a signal, [height, width(, channels)] an image. Transform hands every
    tensor over flat; this is where its shape is said again, derived, never declared twice."""
    from core import names

    out = {}
    for name, shape in feature_shapes.items():
        kind = "signal" if len(shape) == 1 else "image"
        out[names.xf(name)] = {"kind": kind, "shape": list(shape)}
    return out
