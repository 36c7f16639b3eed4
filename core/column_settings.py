"""The operator's settings of how a table's columns are read (classes, categories, shapes,
missing values, ignored, hashed, time and text columns): part of OPERATOR_SETTINGS
(core/operator_settings.py), in the same order, in a file of their own only to keep each file
short. Standard library only.
"""

from __future__ import annotations

from core import columns
from core.schema import Setting

COLUMN_SETTINGS = [
    Setting(
        "classes",
        "array",
        (),
        "Classification: every class of the label (numbers, text or true/false), kept in sorted "
        "order (numbers numerically, text lexicographically); rows with another label value "
        "are left out of training like a missing label. Empty: the data folder's dataset.json "
        "names them, else every value of the label column.",
    ),
    Setting(
        "categorical_features",
        "array",
        (),
        "Integer columns that are categories (codes, ids), not quantities. Otherwise an integer "
        "column is numeric; a text column is always categorical. Empty: the data folder's "
        "dataset.json names them, else none.",
        items={"type": "string"},
    ),
    Setting(
        "feature_shapes",
        "object",
        {},
        'Tensor features\' shapes, e.g. {"pixels": [8, 8, 1]}: an array feature of that many '
        "values, or encoded PNG/JPEG bytes decoded to [height, width, channels]. A fixed-length "
        "vector needs none (a 1-D signal, its length read from the data). Empty: the data "
        "folder's dataset.json names them.",
    ),
    Setting(
        "missing_tokens",
        "array",
        (),
        "Cell values that mean 'missing' in a CSV column that is otherwise numeric (compared "
        "case-insensitively; the empty cell always is). The column stays numeric, those cells "
        "missing. Empty: the data folder's dataset.json names them, else core/columns.py's "
        "MISSING_TOKENS (n/a, NA, null, none, nil, -, --, ?, #N/A, missing).",
        items={"type": "string"},
    ),
    Setting(
        "max_unlabelled_share",
        "number",
        0.5,
        "Rows without a label value are left out of training and evaluation, and counted; a "
        "table with a larger share of them than this is refused.",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "ignore",
        "array",
        (),
        "Columns that are not features (notes, keys): read, never fed to the model. Empty: the "
        "data folder's dataset.json names them, else none.",
        items={"type": "string"},
    ),
    Setting(
        "hashed",
        "array",
        (),
        "ID-like columns to keep, as categories over 1000 hash buckets. Otherwise a text or "
        "integer column whose values are more than 99% distinct is left out as an ID. Empty: "
        "the data folder's dataset.json names them, else none.",
        items={"type": "string"},
    ),
    Setting(
        "timestamp",
        "array",
        (),
        "Time columns: ISO 8601 text (YYYY-MM-DD[THH:MM[:SS]], an offset ignored), or numbers "
        "as epoch seconds. Each becomes hour of day, weekday and month (sin/cos) and the time "
        "elapsed since the training data's earliest. A text column whose values are nearly all "
        "ISO 8601 is one without being named. Empty: the data folder's dataset.json names them, "
        "else those found.",
        items={"type": "string"},
    ),
    Setting(
        "text",
        "array",
        (),
        f"Free-text columns (reviews, comments): each becomes its first {columns.TEXT_LENGTH} "
        "words, lower case and without punctuation, as ids over the training data's "
        f"{columns.TEXT_VOCABULARY:,} most frequent words. A text column whose values are more "
        f"than {columns.TEXT_SHARE:.0%} distinct (at least {columns.TEXT_MIN_DISTINCT}) and "
        f"average at least {columns.TEXT_WORDS:g} words is one without being named. Empty: "
        "the data folder's dataset.json names them, else those found.",
        items={"type": "string"},
    ),
    Setting(
        "text_ngrams",
        "integer",
        1,
        "Word n-grams of the text columns: 1, words alone; 2, words and each pair of adjacent "
        "words (`not good`); 3, triples too. Each word position then holds its n-grams side by "
        "side, in one vocabulary, so word order counts. 1 (the default): the data folder's "
        "dataset.json names it, else words alone.",
        minimum=1,
        maximum=columns.TEXT_MAX_NGRAMS,
    ),
]
