"""TFRecord files of tf.Examples, read in plain Python: no TensorFlow, no protobuf classes.

Why: reading a TFRecord through TensorFlow starts TF's runtime (thread pools) in that process,
and a process that forks afterwards can deadlock in the child's first TF op. The warm executor
forks every node from one parent, and that parent compiles the pipeline, which looks at the
data (task inference). So everything that looks at TFRecords outside a node uses this module.
It also runs in the Airflow environment (the DAG's data check), where there is no TensorFlow.

A file is a sequence of records: an 8-byte little-endian length, a 4-byte CRC of the length, the
payload, a 4-byte CRC of the payload. Files may be GZIP-compressed as a whole (TFX writes them so);
the compression is detected from the first bytes, never assumed. Each record's length checksum is
checked (so a file that is not a TFRecord is named at once), not the payload's.

`data_files` picks a folder's TFRecord files and one glob that matches them only, so a
manifest (dataset.json) or a README beside them is never read as data.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import struct
import zlib
from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"


class TFRecordError(ValueError):
    """The file is not a readable TFRecord of tf.Examples; the message names file and record."""


def compression(path: str) -> str:
    """ "GZIP" or "" (plain), from the file's first bytes."""
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == GZIP_MAGIC else ""


def _open(path: str):
    return gzip.open(path, "rb") if compression(path) else open(path, "rb")  # noqa: SIM115


def records(path: str, limit: int | None = None) -> Iterator[bytes]:
    """The payloads of the records in `path`, plain or gzipped."""
    n = 0
    try:
        with _open(path) as f:
            while limit is None or n < limit:
                head = f.read(12)
                if not head:
                    return
                if len(head) < 12:
                    raise TFRecordError(f"{path}: record {n} is cut short (a truncated file?)")
                if masked_crc(head[:8]) != head[8:12]:
                    raise TFRecordError(
                        f"{path}: record {n} has a bad length checksum (not a TFRecord file?)"
                    )
                (length,) = struct.unpack("<Q", head[:8])
                data = f.read(length)
                if len(data) < length or len(f.read(4)) < 4:
                    raise TFRecordError(
                        f"{path}: record {n} claims {length} bytes past the end of the file "
                        "(not a TFRecord, or truncated)"
                    )
                yield data
                n += 1
    except (OSError, EOFError, zlib.error) as e:
        raise TFRecordError(f"{path}: not a readable TFRecord file ({e})") from None


# ---- tf.train.Example, decoded from protobuf's wire format ------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise TFRecordError("a varint runs past the end of a message")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise TFRecordError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _feature(buf: bytes) -> tuple[str, list]:
    """("bytes" | "float" | "int64", values) of one tf.train.Feature."""
    for number, _, value in _fields(buf):
        kind = {1: "bytes", 2: "float", 3: "int64"}.get(number)
        if kind is None:
            continue
        values: list = []
        for _, wire, v in _fields(value):
            if kind == "bytes":
                values.append(bytes(v))
            elif kind == "float":
                values.extend(x for (x,) in struct.iter_unpack("<f", v))  # packed or fixed32
            elif wire == 0:
                values.append(_signed(v))
            else:  # packed varints
                j = 0
                while j < len(v):
                    x, j = _varint(v, j)
                    values.append(_signed(x))
        return kind, values
    return "bytes", []  # an empty Feature


def _entries(payload: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(name, serialized Feature) of each feature of a serialized tf.Example, not decoded."""
    for number, _, features in _fields(payload):
        if number != 1:
            continue
        for n2, _, entry in _fields(features):
            if n2 != 1:
                continue
            key, feature = b"", b""
            for n3, _, v in _fields(entry):
                if n3 == 1:
                    key = bytes(v)
                elif n3 == 2:
                    feature = v
            yield key, feature


def parse_example(payload: bytes) -> dict[str, tuple[str, list]]:
    """A serialized tf.train.Example as {feature name: (kind, values)}."""
    return {
        key.decode("utf-8", "replace"): _feature(bytes(feature))
        for key, feature in _entries(payload)
    }


def feature_of(payload: bytes, name: str) -> tuple[str, list] | None:
    """One feature of a serialized tf.Example, (kind, values), or None when it has none; the
    other features are skipped, not decoded."""
    key = name.encode()
    return next((_feature(bytes(f)) for k, f in _entries(payload) if k == key), None)


def column(path: str, name: str, limit: int | None = None) -> Iterator[tuple[str, list] | None]:
    """`feature_of(name)` of each tf.Example in `path`."""
    for n, payload in enumerate(records(path, limit)):
        try:
            yield feature_of(payload, name)
        except (TFRecordError, struct.error, IndexError) as e:
            raise TFRecordError(f"{path}: record {n} is not a tf.Example ({e})") from None


def examples(path: str, limit: int | None = None) -> Iterator[dict[str, tuple[str, list]]]:
    """The tf.Examples in `path`, parsed (see parse_example)."""
    for n, payload in enumerate(records(path, limit)):
        try:
            yield parse_example(payload)
        except (TFRecordError, struct.error, IndexError) as e:
            raise TFRecordError(f"{path}: record {n} is not a tf.Example ({e})") from None


def is_tfrecord(path: str) -> bool:
    """Whether `path` starts like a TFRecord of tf.Examples (its first record parses)."""
    try:
        for _ in examples(path, limit=1):
            pass
        return True
    except TFRecordError:
        return False


# ---- a folder of TFRecord files --------------------------------------------------------------


def data_files(folder: str, names: list[str]) -> tuple[list[str], str] | None:
    """(the TFRecord files among `names` in `folder`, a glob that matches them and none of the
    other files), or None when there are none. TFRecordError when a gzip file's name does not
    end in .gz, or a plain file's does (TFX's ImportExampleGen picks the compression from the
    name), or when no glob leaves the other files (dataset.json, README, ...) out."""
    data = [n for n in names if is_tfrecord(os.path.join(folder, n))]
    if not data:
        return None
    for n in data:
        path = os.path.join(folder, n)
        gzipped = compression(path) == "GZIP"
        if os.path.getsize(path) and gzipped != n.endswith(".gz"):
            fix = f"{n}.gz" if gzipped else n[: -len(".gz")]
            raise TFRecordError(
                f"{path} is {'gzip-compressed' if gzipped else 'not compressed'} but its name "
                f"{'lacks' if gzipped else 'ends in'} .gz: ImportExampleGen picks the "
                f"compression from the name; rename it to {fix}"
            )
    other = [n for n in names if n not in data]
    pattern = _pattern(data, other)
    if pattern is None:
        raise TFRecordError(
            f"TFRecord folder {folder}: no file pattern matches the data files "
            f"({', '.join(data[:3])}{', ...' if len(data) > 3 else ''}) and none of the other "
            f"files ({', '.join(other[:5])}); give the data files a common suffix such as "
            ".tfrecord or .tfrecord.gz, or move the other files out"
        )
    return data, pattern


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _pattern(data: list[str], other: list[str]) -> str | None:
    """The most specific of: the data files' common extension, common suffix, common prefix,
    or "*", that matches every data file and no other file."""
    extensions = {n[n.index(".", 1) :] if "." in n[1:] else "" for n in data}
    suffix = _common_prefix([n[::-1] for n in data])[::-1]
    prefix = _common_prefix(data)
    candidates = [f"*{e}" for e in extensions if len(extensions) == 1 and e]
    candidates += [f"*{suffix}"] if suffix else []
    candidates += [f"{prefix}*"] if prefix else []
    for pattern in [*candidates, "*"]:
        if all(fnmatch.fnmatchcase(n, pattern) for n in data) and not any(
            fnmatch.fnmatchcase(n, pattern) for n in other
        ):
            return pattern
    return None


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def masked_crc(data: bytes) -> bytes:
    """TFRecord's masked CRC-32C of `data`, as the 4 bytes written after it."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    masked = (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    return struct.pack("<I", masked)


def write(path: str, rows: list[dict[str, tuple[str, list]]], gzipped: bool = False) -> None:
    """Write tf.Examples given as {name: (kind, values)} (for tests and generated data), with
    the CRCs TensorFlow's reader checks."""
    buf = io.BytesIO()
    for row in rows:
        payload = encode_example(row)
        length = struct.pack("<Q", len(payload))
        buf.write(length + masked_crc(length) + payload + masked_crc(payload))
    data = gzip.compress(buf.getvalue()) if gzipped else buf.getvalue()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(payload)) + payload


def encode_example(row: dict[str, tuple[str, list]]) -> bytes:
    """One tf.Example, serialized, from {name: (kind, values)} ("bytes", "float", else int64),
    as TensorFlow writes it (a missing value is an absent name)."""
    entries = b""
    for name, (kind, values) in row.items():
        if kind == "bytes":
            inner = b"".join(
                _delimited(1, v if isinstance(v, bytes) else str(v).encode()) for v in values
            )
            feature = _delimited(1, inner)
        elif kind == "float":
            feature = _delimited(2, _delimited(1, struct.pack(f"<{len(values)}f", *values)))
        else:
            packed = b"".join(_encode_varint(int(v)) for v in values)
            feature = _delimited(3, _delimited(1, packed))
        entries += _delimited(1, _delimited(1, name.encode()) + _delimited(2, feature))
    return _delimited(1, entries)
