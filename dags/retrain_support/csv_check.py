"""Ingestion check for a folder of CSV files, before any TFX node runs (standard library only).

ExampleGen accepts an empty file and a repeated header without complaint, and fails on a ragged
row with a Beam traceback. This names the file, the line and the problem instead:

- an empty file (0 bytes) or a file with a header and no rows;
- a header that differs from the first file's;
- a ragged row (a different number of fields than the header);
- a row that repeats the header (files concatenated with their headers);
- a file that is not UTF-8 text (the byte offset where it stops being so);
- a label that is not a column (`check_label`, naming the columns there are);
- a `.parquet` file without Parquet's magic bytes (the Parquet columns are the pipeline's to
  read: pyarrow is not an Airflow dependency).
The rules of the last three are core/columns.py's (the pipeline's compile applies them too).
"""

from __future__ import annotations

import csv
from pathlib import Path

MAX_REPORTED = 10


PARQUET_MAGIC = b"PAR1"


def check_label(folder: Path, label: str) -> str | None:
    """One line when `label` is not a column of the folder's first CSV file (None: it is, or
    the folder holds no CSV file)."""
    from core import columns  # on sys.path by retrain_support/__init__.py

    for path in sorted(folder.glob("*.csv"))[:1]:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return columns.label_problem(label, next(csv.reader(f), []), path.name)
    return None


def _check_parquet(path: Path) -> list[str]:
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        return [f"{path.name}: not a Parquet file (no PAR1 magic bytes at its start and end)"]
    return []


def check_folder(folder: Path) -> list[str]:
    """Problems, one line each (at most MAX_REPORTED per file). Empty when the folder is fine
    or holds no CSV files (TFRecord input is left to ExampleGen)."""
    problems: list[str] = []
    first: tuple[str, list[str]] | None = None
    if not any(folder.glob("*.csv")):
        return [p for path in sorted(folder.glob("*.parquet")) for p in _check_parquet(path)]
    for path in sorted(folder.glob("*.csv")):
        found = _check_file(path, first)
        problems += found
        if first is None and not found:
            with open(path, newline="", encoding="utf-8") as f:
                first = (path.name, next(csv.reader(f)))
    return problems


def _check_file(path: Path, first: tuple[str, list[str]] | None) -> list[str]:
    from core import columns

    if path.stat().st_size == 0:
        return [f"{path.name}: empty file (0 bytes)"]
    not_text = columns.utf8_problem(str(path), path.name)
    if not_text:
        return [not_text]
    problems = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not any(header):
            return [f"{path.name}: line 1: no header"]
        if first is not None and header != first[1]:
            problems.append(f"{path.name}: header {header} differs from {first[0]}'s {first[1]}")
        rows = 0
        for row in reader:
            if not row:
                continue  # a blank line
            rows += 1
            if len(problems) >= MAX_REPORTED:
                break
            if row == header:
                problems.append(f"{path.name}: line {reader.line_num}: repeats the header")
            elif len(row) != len(header):
                problems.append(
                    f"{path.name}: line {reader.line_num}: {len(row)} fields, the header has "
                    f"{len(header)} (ragged row)"
                )
        if rows == 0:
            problems.append(f"{path.name}: a header and no rows")
    return problems
