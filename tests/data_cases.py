"""Corrupt and drifting variants of the bundled penguins data, shared by the pipeline-level and
the Airflow-level data validation tests (pure Python: both environments import it).

Each case is (writer, column, kind): the writer puts `data.csv` into a folder; column and kind
are what the log line must name. Cases whose kind is an ingestion error stop before TFX."""

from __future__ import annotations

import csv
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PENGUINS = REPO / "data" / "penguins" / "penguins.csv"


def rows() -> tuple[list[str], list[list[str]]]:
    with open(PENGUINS, newline="") as f:
        header, *body = list(csv.reader(f))
    return header, body


def spans() -> tuple[list[list[str]], list[list[str]]]:
    """Two spans of the same distribution: a seeded shuffle, halved. (Not alternate rows: the
    file lists nest pairs, so alternate rows split the penguins by sex.)"""
    _, body = rows()
    random.Random(0).shuffle(body)
    half = len(body) // 2
    return body[:half], body[half:]


def write(folder: Path, header, body, text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    path = folder / "data.csv"
    if text is not None:
        path.write_text(text)
        return path
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(body)
    return path


def _drop(header, body, column):
    i = header.index(column)
    return [c for j, c in enumerate(header) if j != i], [
        [c for j, c in enumerate(r) if j != i] for r in body
    ]


def _set(header, body, column, fn):
    i = header.index(column)
    out = [r[:] for r in body]
    for n, r in enumerate(out):
        r[i] = fn(n, r[i])
    return header, out


def case_data(name: str, body: list[list[str]]):
    """(header, body, text) of case `name`, built from a good span `body`."""
    header, _ = rows()
    if name == "empty_file":
        return None, None, ""
    if name == "missing_label":
        return (*_drop(header, body, "species"), None)
    if name == "missing_feature":
        return (*_drop(header, body, "bill_depth_mm"), None)
    if name == "string_in_numeric":  # a decimal comma (n/a would be a missing value)
        return (*_set(header, body, "bill_length_mm", lambda n, v: "41,2" if n == 7 else v), None)
    if name == "all_nan":
        return (*_set(header, body, "flipper_length_mm", lambda n, v: "NaN"), None)
    if name == "all_missing":
        return (*_set(header, body, "flipper_length_mm", lambda n, v: ""), None)
    if name == "new_category":
        return (*_set(header, body, "island", lambda n, v: "Atlantis" if n % 10 == 3 else v), None)
    if name == "drift":  # body mass up 60%: past the Jensen-Shannon threshold (default 0.3)
        return (
            *_set(header, body, "body_mass_g", lambda n, v: str(int(v) * 8 // 5) if v else v),
            None,
        )
    if name == "repeated_header":
        return header, body[:40] + [header] + body[40:], None
    if name == "ragged_rows":
        return header, body[:30] + [body[30][:5]] + body[31:], None
    raise KeyError(name)


# name -> the line that refuses it before any node runs (the pipeline's compile, check_params).
REFUSED_CASES = {
    "missing_label": "label 'species' is not a column of ",
}
# name -> (column, kind) the validator must report.
VALIDATION_CASES = {
    "empty_file": ("(dataset)", "NO_EXAMPLES"),
    "missing_feature": ("bill_depth_mm", "SCHEMA_MISSING_COLUMN"),
    "string_in_numeric": ("bill_length_mm", "UNEXPECTED_DATA_TYPE"),
    "all_nan": ("flipper_length_mm", "ALL_VALUES_NAN"),
    "all_missing": ("flipper_length_mm", "ALL_VALUES_MISSING"),
    "new_category": ("island", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
    "drift": ("body_mass_g", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"),
    "repeated_header": ("bill_length_mm", "UNEXPECTED_DATA_TYPE"),
}
