"""Dirty columns, judged where the pipeline compiles (core/columns.py has the rules), so a table
that cannot be used is refused before any node runs, in one line, and every node of a run sees
the same answers:

- the label must be a column (the line names the columns there are);
- rows without a label are counted and logged, and left out by ExampleGen; a share above
  `max_unlabelled_share` refuses the table;
- a CSV column that is numeric but for missing-value tokens is named with its tokens, and
  ExampleGen reads those cells as missing;
- ID-like columns are named and left out of the model, unless `hashed` keeps them; `ignore`
  names columns that are never features;
- time columns (ISO 8601 text, detected; or named by `timestamp`, numbers then epoch seconds)
  are named in one line; Transform turns each into time features, and they are never ID-like;
- text columns (free text, detected: many distinct values of several words; or named by
  `text`) are named in one line; Transform turns each into word ids, and they are never
  ID-like.

`cleaning` returns what ExampleGen and Transform need of this.
"""

from __future__ import annotations

import logging
import os

from core import columns as dirty
from pipelines import task as data_task

COLUMN_SORTS = ("ignore", "hashed", "timestamp")  # what a named text column may not be too


def _parquet_profile(files) -> dirty.Profile:
    """A Parquet folder's scalar columns as core/columns.py's Profile (no tokens: typed)."""
    from core import parquet

    stats = parquet.column_stats(files.files)
    out = dirty.Profile(header=list(stats))
    for name, (kind, present, distinct, span, iso, bad, words) in stats.items():
        out.kinds[name], out.present[name], out.distinct[name] = kind, present, distinct
        out.span[name], out.iso[name], out.filled[name] = span, iso, present
        out.words[name] = words
        if bad is not None:
            out.not_iso[name] = bad
    return out


def _profile(data: str, files, label: str, tokens: tuple) -> dirty.Profile | None:
    if files.kind not in ("csv", "parquet") or not files.files:
        return None

    def compute():
        try:
            if files.kind == "parquet":
                return _parquet_profile(files)
            return dirty.csv_profile(files.files, label, tokens)
        except ValueError as e:  # a file that is not UTF-8 text, Parquet files that differ
            raise data_task.DataError(str(e)) from None

    return data_task._cached("dirty", data, label, tuple(tokens), compute=compute)


def _named_times(data: str, files, named) -> dict[str, str]:
    """{column: "epoch" for a number feature, else "iso"} of the named time columns, by the
    features' kinds in the first examples (TFRecords: no profile reads every row)."""
    kinds = data_task._cached("profile", data, compute=lambda: data_task._profile(data, files))
    number = ("int64", "float")
    return {n: "epoch" if kinds.get(n, ("bytes",))[0] in number else "iso" for n in named}


def cleaning(data: str, label: str, declared: dict, bar: float, split_column: str = "") -> dict:
    """{"example_gen": ExampleGen's cleaning (the label whose unlabelled rows it drops, the
    columns whose missing-value tokens it blanks, the tokens, the lines that say so: logged
    here, where the pipeline compiles, and by ExampleGen), "ignore": the columns Transform
    leaves out, "hashed": those it hashes, "timestamp": the time columns, "text": the free-text
    columns}. `declared`: the data settings (missing_tokens and core/columns.py's
    COLUMN_KEYS). DataError: the label is not a column, too many rows have no label, a declared
    column is not one, a file is not UTF-8 text, the folder holds no data file, a named
    timestamp column holds a value that is not one, a column is named twice."""
    files = data_task.data_files(data)
    if not files.files:
        others = sorted(os.listdir(data))
        raise data_task.DataError(
            f"{data} holds no data files: no *.csv, *.parquet or TFRecord file among "
            f"{others or 'nothing'}"
        )
    columns = data_task.columns(data)
    if not columns:
        # ExampleGen names it
        return {"example_gen": {}, **{key: [] for key in dirty.COLUMN_KEYS}}
    bad = dirty.label_problem(label, columns, data)
    if bad:
        raise data_task.DataError(bad)
    for key in dirty.COLUMN_KEYS:
        unknown = [c for c in declared[key] if c not in columns]
        if unknown:
            raise data_task.DataError(
                f"{key} names {unknown}, not columns of {data} (columns: {', '.join(columns)})"
            )
    named, named_text = list(declared["timestamp"]), list(declared["text"])
    # A column is time, text, ignored or hashed: one of them, and never the label.
    for key, others in (("timestamp", ("ignore", "hashed")), ("text", COLUMN_SORTS)):
        taken = {*(c for other in others for c in declared[other]), label, split_column}
        both = sorted({*declared[key]} & taken)
        if both:
            raise data_task.DataError(
                f"{key} names {both}, which {', '.join(others)}, the label or the split column "
                "names too: a column is one of them"
            )
    tokens = tuple(declared["missing_tokens"])
    profile = _profile(data, files, label, tokens)  # first: it names a file that is not UTF-8
    try:
        values = data_task.label_column(data, label).values
    except data_task.TaskError as e:
        raise data_task.DataError(str(e)) from None
    unlabelled = sum(1 for v in values if dirty.is_missing(v))
    line, over = dirty.unlabelled_line(label, unlabelled, len(values), bar)
    if over:
        raise data_task.DataError(f"{data}: {line}")
    notes = [line] if unlabelled else []
    blanked, ids, times = [], [], _named_times(data, files, named)  # TFRecords: as named
    texts = named_text
    if profile is not None:
        skip = {*declared["hashed"], *declared["ignore"], split_column}
        try:
            times = profile.times(label, named, skip)
        except ValueError as e:
            raise data_task.DataError(f"{data}: {e}") from None
        for name, counts in profile.tokens.items():
            if name not in (label, split_column):
                notes.append(dirty.tokens_line(name, counts))
                blanked.append(name)
        texts = profile.texts(label, named_text, {*skip, *times})
        keep = {*skip, *times, *texts}  # time and text win over ID-like
        ids = profile.id_like(label, keep)
        notes += [
            f"ID-like column {name!r}: {profile.distinct[name]} distinct values in "
            f"{profile.present[name]} rows; left out of the model (keep it hashed with "
            f'"hashed": [{name!r}], or list it in "ignore")'
            for name in ids
        ]
    if times:
        notes.append(dirty.times_line(times, named))
    if texts:
        notes.append(dirty.texts_line(texts, named_text, declared.get("text_ngrams", 1)))
    for note in notes:
        logging.warning("%s", note)
    example_gen = {}
    if notes:  # ExampleGen logs them again, in its own task's log
        example_gen = {
            "label": label if unlabelled else "",
            "missing_columns": blanked,
            "missing_tokens": sorted(dirty.tokens_of(tokens)),
            "notes": notes,
        }
    return {
        "example_gen": example_gen,
        "ignore": sorted({*declared["ignore"], *ids}),
        "hashed": sorted(declared["hashed"]),
        "timestamp": sorted(times),
        "text": sorted(texts),
    }
