"""Dirty columns, as users' tables have them, read once where the run starts (standard library
only: the DAG's data check and the pipeline's compile both use it).

- Missing-value tokens: `n/a`, `NA`, `null`, `-`, `?`, empty, ... (MISSING_TOKENS, compared
  case-insensitively after stripping; the `missing_tokens` setting or a dataset definition's
  key replaces them). A CSV column whose other values are all numbers is numeric, with those
  cells missing; ExampleGen reads it so (components/example_gen).
- Unlabelled rows: counted; ExampleGen leaves them out, so neither training nor the Evaluator
  sees them; a share above `max_unlabelled_share` refuses the table.
- ID-like columns: a text column (not the label) whose present values are nearly all distinct
  (more than ID_SHARE), or an integer column so whose values are also dense (a row number: max
  - min + 1 at most ID_DENSE times the distinct count; an amount in cents is not), is left out
  of the model, unless a dataset definition keeps it hashed (`hashed`); `ignore` names columns
  to leave out whatever they hold.
- Time columns: a text column whose present values are nearly all (TIME_SHARE) ISO 8601 dates
  or date-times in the canonical form ISO_PATTERN (what Transform parses), or one a dataset
  definition names (`timestamp`): ISO text, or numbers as epoch seconds. Time wins over the
  ID-like rule (timestamps are nearly unique strings).
- Text columns (free text: reviews, comments): a text column, not time, whose present values
  are more than TEXT_SHARE distinct (AutoGluon's rule; and at least TEXT_MIN_DISTINCT, so a
  few phrases on a small table stay a category) and average at least TEXT_WORDS
  whitespace-separated words, or one a dataset definition names (`text`). Transform turns it
  into TEXT_LENGTH word ids over a vocabulary of the TEXT_VOCABULARY most frequent words. Text
  wins over the ID-like rule (reviews are nearly unique strings).
- A label that is not a column, and a file that is not UTF-8 text, are named in one line.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
import re

MISSING_TOKENS = ("", "n/a", "na", "null", "none", "nil", "-", "--", "?", "#n/a", "missing")
ID_SHARE = 0.99  # more distinct values than this share of the present ones: an ID
ID_MIN_ROWS = 100  # fewer present values than this never make an ID (too little to tell)
ID_DENSE = 1.1
HASH_BUCKETS = 1000  # a `hashed` column's categories
_BLOCK = 1 << 20
# ISO 8601 as Transform parses it (pipelines/user_module): YYYY-MM-DD, optionally followed by T
# or a space and HH:MM[:SS[.fraction]] and then optionally Z or an offset (+HH, +HHMM, +HH:MM),
# which is read but ignored: the wall-clock time as written. The same pattern for Python's re,
# RE2 (tf.strings.regex_full_match) and Arrow.
ISO_PATTERN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
)
_ISO = re.compile(ISO_PATTERN)
TIME_SHARE = 0.95  # at least this share of a text column's present values ISO 8601: time
# What Transform makes of a time column: one numeric feature each (core/names.py `time_xf`).
TIME_PARTS = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "month_sin", "month_cos")
TIME_PARTS += ("elapsed",)
TEXT_SHARE = 0.01  # more distinct values than this share of the present ones, and
TEXT_WORDS = 3.0  # at least this many words per present value on average: text
TEXT_MIN_DISTINCT = 20  # and at least this many distinct values (fewer: a category of phrases)
# What Transform makes of a text column (pipelines/user_module): its first TEXT_LENGTH words
# (lower case, punctuation dropped), padded, as ids over the TEXT_VOCABULARY most frequent words
# of the training data (id 0 the padding, one out-of-vocabulary id).
TEXT_LENGTH = 64
TEXT_VOCABULARY = 20_000
# With `text_ngrams` N above 1, each of the TEXT_LENGTH positions holds the word and the n-grams
# of 2 to N words starting there ("" past the text's end): TEXT_LENGTH * N ids, one vocabulary.
TEXT_MAX_NGRAMS = 3
# The dataset-definition keys that sort columns (each a list of column names), and which of
# them Transform is told (the others shape the cleaning only).
COLUMN_KEYS = ("ignore", "hashed", "timestamp", "text")


def tokens_of(declared) -> frozenset[str]:
    """The missing-value tokens, normalised (stripped, lower case): `declared`, else
    MISSING_TOKENS. The empty cell is always missing."""
    return frozenset({"", *(str(t).strip().lower() for t in (declared or MISSING_TOKENS))})


def utf8_problem(path: str, name: str | None = None) -> str | None:
    """One line naming the file and the byte offset where it stops being UTF-8 text, or None."""
    offset, pending = 0, b""  # offset: where `pending` starts in the file
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            data = pending + block
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:
                if block and e.reason == "unexpected end of data":  # a character cut by the block
                    pending, offset = data[e.start :], offset + e.start
                    continue
                at = offset + e.start
                f.seek(0)
                line = f.read(at).count(b"\n") + 1
                return (
                    f"{name or path}: not UTF-8 text: byte 0x{data[e.start]:02x} at byte offset "
                    f"{at} (line {line}); save the file as UTF-8"
                )
            if not block:
                return None
            pending, offset = b"", offset + len(data)


def label_problem(label: str, columns, where: str) -> str | None:
    """One line when `label` is not among `columns`, naming the columns there are."""
    columns = list(columns)
    if label in columns:
        return None
    return f"label {label!r} is not a column of {where} (columns: {', '.join(columns)})"


def iso_time(text: str) -> bool:
    """Whether `text` is an ISO 8601 date or date-time in the form ISO_PATTERN, with a real
    date and an hour, minute and second in range."""
    if not _ISO.fullmatch(text):
        return False
    try:
        datetime.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    if len(text) <= 10:
        return True
    second = int(text[17:19]) if text[16:17] == ":" else 0
    return int(text[11:13]) < 24 and int(text[14:16]) < 60 and second < 61


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclasses.dataclass
class Profile:
    """A CSV folder's columns as the run reads them: `rows`; per column the present values'
    count, distinct count and kind ("int", "float" or "text", missing tokens left out of a
    numeric column); `tokens` the missing-value tokens found per numeric column ({token: n});
    `unlabelled` the rows whose label is missing (None: no such column)."""

    header: list[str]
    rows: int = 0
    present: dict = dataclasses.field(default_factory=dict)
    distinct: dict = dataclasses.field(default_factory=dict)
    kinds: dict = dataclasses.field(default_factory=dict)
    tokens: dict = dataclasses.field(default_factory=dict)
    unlabelled: int | None = None
    span: dict = dataclasses.field(default_factory=dict)  # an int column's max - min + 1
    iso: dict = dataclasses.field(default_factory=dict)  # a text column's ISO 8601 values
    filled: dict = dataclasses.field(default_factory=dict)  # its values that are no token
    not_iso: dict = dataclasses.field(default_factory=dict)  # its first value that is not
    words: dict = dataclasses.field(default_factory=dict)  # a text column's words, all values

    def times(self, label: str, named=(), skip=()) -> dict[str, str]:
        """{column: "iso" or "epoch"}: the `named` columns (numbers: epoch seconds), and text
        columns, not the label nor in `skip`, whose values that are no missing-value token are
        at least TIME_SHARE ISO 8601. ValueError naming a named column that holds text that is
        not ISO 8601 (the value), or neither text nor numbers."""
        out = {}
        for name in self.header:
            kind = self.kinds.get(name)
            if name in named:
                if kind in ("int", "float"):
                    out[name] = "epoch"
                    continue
                if name in self.not_iso:
                    raise ValueError(
                        f"timestamp column {name!r} holds {self.not_iso[name]!r}, not an ISO 8601 "
                        "date or date-time (YYYY-MM-DD[THH:MM[:SS]]) nor epoch seconds"
                    )
                out[name] = "iso"
            elif name != label and name not in skip and kind in ("text", "time"):
                filled = self.filled.get(name, 0)
                if kind == "time" or (filled and self.iso.get(name, 0) >= TIME_SHARE * filled):
                    out[name] = "iso"
        return out

    def texts(self, label: str, named=(), skip=()) -> list[str]:
        """The `named` columns, and text columns, not the label nor in `skip`, whose present
        values are more than TEXT_SHARE distinct (and at least TEXT_MIN_DISTINCT) and average at
        least TEXT_WORDS words."""
        out = []
        for name in self.header:
            filled = self.filled.get(name, 0)
            if name in named:
                out.append(name)
            elif name != label and name not in skip and self.kinds.get(name) == "text" and filled:
                distinct = self.distinct.get(name, 0)
                many = distinct > TEXT_SHARE * filled and distinct >= TEXT_MIN_DISTINCT
                if many and self.words.get(name, 0) >= TEXT_WORDS * filled:
                    out.append(name)
        return out

    def id_like(self, label: str, keep=()) -> list[str]:
        """Text or integer columns, not the label nor in `keep`, whose present values are more
        than ID_SHARE distinct (at least ID_MIN_ROWS of them)."""
        out = []
        for name in self.header:
            n = self.present.get(name, 0)
            if name == label or name in keep or self.kinds.get(name) in ("float", "time"):
                continue
            distinct = self.distinct.get(name, 0)
            dense = self.kinds.get(name) != "int" or self.span[name] <= ID_DENSE * distinct
            if n >= ID_MIN_ROWS and distinct > ID_SHARE * n and dense:
                out.append(name)
        return out


def csv_profile(paths, label: str, declared_tokens=()) -> Profile:
    """Every row of the CSV files `paths` (one header): see Profile. ValueError naming the file
    and byte offset for a file that is not UTF-8 text."""
    tokens = tokens_of(declared_tokens)
    header: list[str] = []
    seen: dict[str, set] = {}
    found: dict[str, dict] = {}
    numeric: dict[str, bool] = {}
    whole: dict[str, bool] = {}
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    iso: dict[str, int] = {}
    not_iso: dict[str, str] = {}
    words: dict[str, int] = {}
    rows = 0
    for path in paths:
        bad = utf8_problem(path, str(path))
        if bad:
            raise ValueError(bad)
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, []) or header
            for name in header:
                seen.setdefault(name, set())
                found.setdefault(name, {})
                numeric.setdefault(name, True)
                whole.setdefault(name, True)
            for row in reader:
                if not row:
                    continue
                rows += 1
                for name, cell in zip(header, row, strict=False):
                    text = cell.strip()
                    if text.lower() in tokens:
                        found[name][text] = found[name].get(text, 0) + 1
                        continue
                    seen[name].add(text)
                    words[name] = words.get(name, 0) + len(text.split())
                    if iso_time(text):
                        iso[name] = iso.get(name, 0) + 1
                    else:
                        not_iso.setdefault(name, text)
                    if numeric[name] and not _number(text):
                        numeric[name] = False
                    if numeric[name]:
                        value = float(text)
                        whole[name] = whole[name] and value.is_integer() and "." not in text
                        low[name] = min(low.get(name, value), value)
                        high[name] = max(high.get(name, value), value)
    out = Profile(header=header, rows=rows)
    for name in header:
        out.distinct[name] = len(seen[name])
        count = {k: v for k, v in found[name].items() if k}
        missing = sum(found[name].values())
        if numeric[name] and seen[name]:
            out.kinds[name] = "int" if whole[name] else "float"
            out.span[name] = high[name] - low[name] + 1
            if count:
                out.tokens[name] = count
            present = rows - missing
        else:
            out.kinds[name] = "text"
            present = rows - found[name].get("", 0)
            out.iso[name], out.filled[name] = iso.get(name, 0), rows - missing
            out.words[name] = words.get(name, 0)
            if name in not_iso:
                out.not_iso[name] = not_iso[name]
        out.present[name] = present
    if label in out.kinds:
        out.unlabelled = out.rows - out.present[label]
    return out


def is_missing(value) -> bool:
    """A label value that is no label: None, or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def unlabelled_line(label: str, unlabelled: int, rows: int, bar: float) -> tuple[str, bool]:
    """(the one log line about rows without a label, whether the share is above `bar`)."""
    share = unlabelled / rows if rows else 0.0
    if share > bar:
        return (
            f"{unlabelled} of {rows} rows ({share:.1%}) have no value in the label {label!r}, "
            f"above max_unlabelled_share {bar:g}: label them, or raise max_unlabelled_share"
        ), True
    return (
        f"unlabelled rows: {unlabelled} of {rows} ({share:.1%}) have no value in the label "
        f"{label!r}; left out of training and evaluation"
    ), False


def tokens_line(name: str, counts: dict) -> str:
    """The one log line about a numeric column's missing-value tokens."""
    total = sum(counts.values())
    listed = ", ".join(f"{t!r} x{n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (
        f"missing values: column {name!r} is numeric; {total} missing-value token(s) read as "
        f"missing ({listed})"
    )


def texts_line(texts, named=(), ngrams: int = 1) -> str:
    """The one log line naming the columns read as free text (and the n-grams they get)."""
    listed = ", ".join(f"{n!r} ({'named' if n in named else 'detected'})" for n in sorted(texts))
    grams = {1: "", 2: " and word pairs"}.get(ngrams, f" and n-grams of 2 to {ngrams} words")
    return (
        f"text columns: {listed}; each becomes its first {TEXT_LENGTH} words (lower case) as ids "
        f"over the training data's {TEXT_VOCABULARY:,} most frequent words{grams}"
    )


def times_line(times: dict[str, str], named=()) -> str:
    """The one log line naming the columns read as time."""
    how = {"iso": "ISO 8601", "epoch": "epoch seconds"}
    listed = ", ".join(
        f"{name!r} ({how[kind]}, {'named' if name in named else 'detected'})"
        for name, kind in sorted(times.items())
    )
    return (
        f"time columns: {listed}; each becomes hour of day, weekday and month (sin/cos) and the "
        "time elapsed since the training data's earliest"
    )
