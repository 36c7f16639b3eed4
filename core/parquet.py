"""Parquet files as rows of features, read with pyarrow (imported on first use): the same
{name: (kind, values)} form core/tfrecord.py gives for a tf.Example, so the compile-time readers
(pipelines/task.py) and ExampleGen (components/example_gen) see one thing.

Columns keep their Arrow types: integers and booleans are "int64" (a bool is 0/1), floats and
decimals "float", strings and binaries "bytes", dates and timestamps "bytes" (ISO 8601 text); a
list column of numbers is a vector (its values, in order). A null cell is an absent feature.
Other types (structs, maps, nested lists) are refused in one line naming the column.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator

BATCH = 4096


class ParquetError(ValueError):
    """A Parquet file or column that cannot be read as features; the message names it."""


def _kind(name: str, arrow_type) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = t.value_type
        if pa.types.is_boolean(inner) or pa.types.is_integer(inner):
            return "int64"
        if pa.types.is_floating(inner) or pa.types.is_decimal(inner):
            return "float"
        raise ParquetError(
            f"column {name!r} is a list of {inner}: a list column must hold numbers (a vector)"
        )
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return "bytes"
    if pa.types.is_large_binary(t) or pa.types.is_temporal(t) or pa.types.is_null(t):
        return "bytes"
    raise ParquetError(f"column {name!r} has the Arrow type {t}, which cannot be a feature")


def _values(kind: str, cell) -> list:
    """A cell's feature values ([] for a null cell; None items of a list dropped)."""
    if cell is None:
        return []
    items = cell if isinstance(cell, list) else [cell]
    out = []
    for v in items:
        if v is None:
            continue
        if kind == "int64":
            out.append(int(v))
        elif kind == "float":
            out.append(float(v))
        elif isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, (datetime.date, datetime.time)):
            out.append(v.isoformat().encode())
        elif isinstance(v, decimal.Decimal):
            out.append(str(v).encode())
        else:
            out.append(str(v).encode("utf-8"))
    return out


def _file(path: str):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several kinds for a file that is not Parquet
        raise ParquetError(f"{path}: not a readable Parquet file ({e})") from None


def names(path: str) -> list[str]:
    """The file's column names."""
    return list(_file(path).schema_arrow.names)


def kinds(path: str) -> dict[str, str]:
    """{column: feature kind} of the file (ParquetError for a type that cannot be a feature)."""
    schema = _file(path).schema_arrow
    return {f.name: _kind(f.name, f.type) for f in schema}


def examples(path: str, limit: int | None = None, columns=None) -> Iterator[dict]:
    """The file's rows as {name: (kind, values)}, up to `limit`; only `columns` when given."""
    f = _file(path)
    by_name = kinds(path)
    wanted = list(columns) if columns is not None else list(by_name)
    n = 0
    for batch in f.iter_batches(batch_size=BATCH, columns=wanted):
        data = {name: batch.column(name).to_pylist() for name in wanted}
        for i in range(batch.num_rows):
            if limit is not None and n >= limit:
                return
            n += 1
            yield {name: (by_name[name], _values(by_name[name], data[name][i])) for name in wanted}


def column_stats(paths) -> dict[str, tuple]:
    """{column: (kind "int", "float", "text" or "time" (an Arrow date or timestamp), present
    values, distinct values, max - min + 1 for an int column else 0, a text column's values
    that are ISO 8601 (core/columns.py's ISO_PATTERN), its first value that is not or None, a
    text column's whitespace-separated words in all its values)}
    over every row of the files, for the scalar columns (a list column is a vector, never an
    ID nor a time)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from core import columns

    out: dict[str, tuple] = {}
    if not paths:
        return out
    try:
        table = pa.concat_tables([pq.read_table(p) for p in paths])
    except pa.ArrowInvalid as e:
        raise ParquetError(f"the Parquet files' columns differ ({e})") from None
    for name in table.column_names:
        column = table.column(name)
        t = column.type
        if pa.types.is_dictionary(t):
            column, t = column.cast(t.value_type), t.value_type
        if pa.types.is_integer(t):
            kind = "int"
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            kind = "text"
        elif pa.types.is_floating(t):
            kind = "float"
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            kind = "time"
        else:
            continue
        present = len(column) - column.null_count
        distinct = pc.count_distinct(column).as_py() if present else 0
        span, iso, bad, words = 0.0, 0, None, 0
        if kind == "int" and present:
            bounds = pc.min_max(column).as_py()
            span = float(bounds["max"] - bounds["min"] + 1)
        if kind == "text" and present:
            match = pc.match_substring_regex(column, f"^(?:{columns.ISO_PATTERN})$")
            iso = pc.sum(match).as_py() or 0
            others = pc.filter(column, pc.invert(match))
            bad = others[0].as_py() if len(others) else None
            split = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(column))
            words = pc.sum(pc.list_value_length(split)).as_py() or 0
        out[name] = (kind, present, distinct, span, iso, bad, words)
    return out
