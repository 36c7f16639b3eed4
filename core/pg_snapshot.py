"""A snapshot of a PostgreSQL source (core/pg_source.py) as a folder of Parquet files, keyed by
what was read, so the pipeline reads it exactly as a folder source (column typing, dirty-column
rules, splits, ExampleGen's fingerprint) and an unchanged table is the same folder, the same
ExampleGen input, CACHED.

- One REPEATABLE READ, READ ONLY transaction (TimeZone UTC), a server-side cursor read in
  batches: a consistent snapshot without holding the table in memory.
- Column types from PostgreSQL's: integers and booleans int64; floats and numeric float64;
  text, varchar, char, uuid, json and anything else text; date, time and timestamp ISO 8601
  text (so the time-column rules apply; a time zone as +00:00); arrays of numbers vectors
  (lists of int64 or float64); bytea binary.
- The key: a SHA-256 over the column names and kinds and the multiset of the rows (each row's
  hash, summed), so the order the server returns rows in does not matter. The folder is written
  beside its final place and renamed into it; an existing folder is kept as it is (its files,
  their times, ExampleGen's fingerprint).

pyarrow and psycopg2 are imported on first use (the TFX environment has both).
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import os
import shutil
import tempfile

from core.pg_source import Source, SourceError, connect, read_error

BATCH = 5000
FILE = "part-00000.parquet"
MODULUS = 2**256

INTS = {16, 20, 21, 23, 26}  # bool, int8, int2, int4, oid
FLOATS = {700, 701, 1700, 790}  # float4, float8, numeric, money
INT_ARRAYS = {1000, 1005, 1007, 1016}  # bool[], int2[], int4[], int8[]
FLOAT_ARRAYS = {1021, 1022, 1231}  # float4[], float8[], numeric[]
TIMES = {1082, 1083, 1114, 1184, 1266}  # date, time, timestamp, timestamptz, timetz
BINARY = {17}  # bytea


def kind_of(oid: int) -> str:
    """A column's kind from its PostgreSQL type's OID: int, float, ints, floats, time, binary
    or text."""
    for kind, oids in (("int", INTS), ("float", FLOATS), ("ints", INT_ARRAYS)):
        if oid in oids:
            return kind
    for kind, oids in (("floats", FLOAT_ARRAYS), ("time", TIMES), ("binary", BINARY)):
        if oid in oids:
            return kind
    return "text"


def _number(v, cast):
    return None if v is None else cast(v)


def _text(v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _time(v):
    return v.isoformat() if isinstance(v, (datetime.date, datetime.time)) else _text(v)


def _flat(v, cast):
    """An array cell's numbers (nested arrays flattened; None items kept out)."""
    if v is None:
        return None
    out = []
    for item in v:
        if isinstance(item, list):
            out += _flat(item, cast)
        elif item is not None:
            out.append(cast(item))
    return out


CONVERT = {
    "int": lambda v: _number(v, int),
    "float": lambda v: _number(v, float),
    "ints": lambda v: _flat(v, int),
    "floats": lambda v: _flat(v, float),
    "time": _time,
    "binary": lambda v: None if v is None else bytes(v),
    "text": _text,
}


def _money(v):
    return float(decimal.Decimal(str(v).replace("$", "").replace(",", "")))


def arrow_schema(names: list[str], kinds: list[str]):
    import pyarrow as pa

    types = {
        "int": pa.int64(),
        "float": pa.float64(),
        "ints": pa.list_(pa.int64()),
        "floats": pa.list_(pa.float64()),
        "time": pa.string(),
        "binary": pa.binary(),
        "text": pa.string(),
    }
    return pa.schema([pa.field(n, types[k]) for n, k in zip(names, kinds, strict=True)])


def _row_hash(row: tuple) -> int:
    return int.from_bytes(hashlib.sha256(repr(row).encode("utf-8")).digest(), "big")


def take(source: Source, password: str | None, root: str) -> dict:
    """Reads `source` into ROOT/<key>/part-00000.parquet; {"folder", "rows", "key", "columns"}.
    SourceError in one line when it cannot be read or holds no rows."""
    import psycopg2
    import pyarrow as pa
    import pyarrow.parquet as pq
    from psycopg2 import sql

    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".snapshot-", dir=root)
    conn = connect(source, password)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as setup:
            setup.execute("SET LOCAL TimeZone = 'UTC'")
        total, rows, failed = 0, 0, None
        with conn.cursor() as cur:  # fails here, not in a server-side cursor, if it fails
            try:
                cur.execute(sql.SQL("SELECT * FROM ({}) AS probe LIMIT 0").format(source.select()))
            except psycopg2.Error as e:
                failed = e
        if failed is not None:
            raise read_error(source, conn, failed) from None
        with conn.cursor(name="retrain_snapshot") as cur:
            cur.itersize = BATCH
            cur.execute(source.select())
            batch = cur.fetchmany(BATCH)
            names = [d.name for d in cur.description]
            kinds = [kind_of(d.type_code) for d in cur.description]
            money = [d.type_code == 790 for d in cur.description]
            converters = [_money if m else CONVERT[k] for m, k in zip(money, kinds, strict=True)]
            schema = arrow_schema(names, kinds)
            writer = pq.ParquetWriter(os.path.join(tmp, FILE), schema)
            while batch:
                cells = [tuple(f(v) for f, v in zip(converters, row, strict=True)) for row in batch]
                total = (total + sum(_row_hash(r) for r in cells)) % MODULUS
                rows += len(cells)
                columns = [pa.array([r[i] for r in cells], t) for i, t in enumerate(schema.types)]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
                batch = cur.fetchmany(BATCH)
            writer.close()
        conn.rollback()  # read only: nothing to commit
        if not rows:
            raise SourceError(f"{source.where} holds no rows")
        head = json.dumps([names, kinds]).encode("utf-8")
        key = hashlib.sha256(head + total.to_bytes(32, "big") + str(rows).encode()).hexdigest()
        key = key[:24]
        folder = os.path.join(root, key)
        if os.path.isdir(folder):
            shutil.rmtree(tmp)
        else:
            try:
                os.rename(tmp, folder)
            except OSError:  # another run wrote the same snapshot meanwhile
                if not os.path.isdir(folder):
                    raise
        return {"folder": folder, "rows": rows, "key": key, "columns": names}
    finally:
        conn.close()
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
