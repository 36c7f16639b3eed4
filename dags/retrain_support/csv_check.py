"""Ingestion check for a folder of CSV files, before any TFX node runs (standard library only).

ExampleGen accepts an empty file and a repeated header without complaint, and fails on a ragged
row with a Beam traceback. This names the file, the line and the problem instead:

- an empty file (0 bytes) or a file with a header and no rows;
- a header that differs from the first file's;
- a ragged row (a different number of fields than the header);
- a row that repeats the header (files concatenated with their headers).
"""

from __future__ import annotations

import csv
from pathlib import Path

MAX_REPORTED = 10


def check_folder(folder: Path) -> list[str]:
    """Problems, one line each (at most MAX_REPORTED per file). Empty when the folder is fine
    or holds no CSV files (TFRecord input is left to ExampleGen)."""
    problems: list[str] = []
    first: tuple[str, list[str]] | None = None
    for path in sorted(folder.glob("*.csv")):
        found = _check_file(path, first)
        problems += found
        if first is None and not found:
            with open(path, newline="") as f:
                first = (path.name, next(csv.reader(f)))
    return problems


def _check_file(path: Path, first: tuple[str, list[str]] | None) -> list[str]:
    if path.stat().st_size == 0:
        return [f"{path.name}: empty file (0 bytes)"]
    problems = []
    with open(path, newline="") as f:
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
