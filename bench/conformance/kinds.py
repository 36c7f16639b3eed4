"""The data kinds users really have (issue 34), as conformance entries judged on fresh rows.

Each kind is a seeded row generator: the corpus writes its training folder from seed 7, and the
check scores the registered @champion's pyfunc on FRESH rows (seed 8, never trained on) beside
a simple scikit-learn reference fitted on the same training rows and the trivial baseline (the
majority class):

- `events`: an ISO 8601 `created_at`, a unique `session_id` (ID-like: dropped) and a small
  `items` count; the label is business hours on weekdays (hour 9 to 16, Monday to Friday), 4%
  of labels flipped. Reference: gradient boosting on hour and weekday (the parts a user would
  extract by hand).
- `tickets`: support tickets, a free-text `body` (5 to 25 words) and a `seats` count (noise);
  urgent when the urgent words outnumber the routine ones, one label in 10 flipped. `notes`:
  the same text alone (text only). Reference: TF-IDF on words and word pairs with logistic
  regression.
- `customers`: a PostgreSQL table (tests/pg_server.py's, on a throwaway server with password
  authentication; the password in the run's Airflow Connection): numeric, integer, float, text
  and timestamp columns. Reference: logistic regression.
- `parquet_vectors`: a Parquet folder (two files) with a list<float> column `signal` (16
  values) and a float `gain`; the label is the sign of a fixed projection of the signal.
  Reference: logistic regression on the 16 values and the gain.

Standard library at import; numpy, pyarrow and scikit-learn when used (the TFX environment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import random
from collections.abc import Callable
from pathlib import Path

TRAIN_SEED, FRESH_SEED = 7, 8
FRESH_ROWS = 2000


@dataclasses.dataclass(frozen=True)
class Kind:
    """One generated kind: `rows(n, seed)` gives labelled rows (dicts), `write(folder, rows)`
    writes them as the source users have, `features(rows)` makes the reference's matrix."""

    name: str
    label: str
    n: int
    rows: Callable[[int, int], list[dict]]
    write: Callable[[Path, list[dict]], None]
    reference: str  # what the reference model is, for RESULTS.md
    fit: Callable  # (train rows, fresh rows) -> the reference's accuracy on the fresh rows
    # A source that is not a folder: source(folder) is a context manager that serves the
    # training rows and yields (the `data` to run on, the run's extra environment).
    source: Callable | None = None


def _manifest(folder: Path, label: str, name: str, **more) -> None:
    spec = {"label": label, "registered_model_name": f"conformance_{name}", **more}
    (folder / "dataset.json").write_text(json.dumps(spec) + "\n")


def _csv(folder: Path, rows: list[dict], name: str) -> None:
    import csv

    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# ---- events: a timestamp and an ID column -------------------------------------------------

_START = datetime.datetime(2025, 1, 1)


def event_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = _START + datetime.timedelta(seconds=rng.randrange(365 * 24 * 3600))
        busy = 9 <= t.hour < 17 and t.weekday() < 5
        if rng.random() < 0.04:
            busy = not busy
        out.append(
            {
                "created_at": t.strftime("%Y-%m-%dT%H:%M:%S"),
                "session_id": f"s{rng.getrandbits(48):012x}",
                "items": rng.randint(1, 5),
                "busy": "yes" if busy else "no",
            }
        )
    return out


def _write_events(folder: Path, rows: list[dict]) -> None:
    _csv(folder, rows, "events")
    _manifest(folder, "busy", "events")


def _hour_weekday(rows: list[dict]):
    import numpy as np

    ts = [datetime.datetime.fromisoformat(r["created_at"]) for r in rows]
    return np.array([[t.hour, t.weekday(), r["items"]] for t, r in zip(ts, rows, strict=True)])


def _fit_events(train: list[dict], fresh: list[dict]) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=0)
    model.fit(_hour_weekday(train), [r["busy"] for r in train])
    return _accuracy(model.predict(_hour_weekday(fresh)), [r["busy"] for r in fresh])


# ---- parquet_vectors: a list column ---------------------------------------------------------

_DIM = 16


def _direction() -> list[float]:
    rng = random.Random(99)
    return [rng.gauss(0, 1) for _ in range(_DIM)]


def vector_rows(n: int, seed: int) -> list[dict]:
    rng, w = random.Random(seed), _direction()
    out = []
    for _ in range(n):
        signal = [round(rng.gauss(0, 1), 5) for _ in range(_DIM)]
        gain = round(rng.uniform(0.5, 2.0), 4)
        z = sum(a * b for a, b in zip(w, signal, strict=True)) + rng.gauss(0, 0.5)
        out.append({"signal": signal, "gain": gain, "positive": int(z > 0)})
    return out


def _write_vectors(folder: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    half = len(rows) // 2
    for k, part in enumerate((rows[:half], rows[half:])):
        table = pa.table(
            {
                "signal": pa.array([r["signal"] for r in part], pa.list_(pa.float32())),
                "gain": pa.array([r["gain"] for r in part], pa.float64()),
                "positive": pa.array([r["positive"] for r in part], pa.int64()),
            }
        )
        pq.write_table(table, folder / f"part-{k}.parquet")
    _manifest(folder, "positive", "parquet_vectors")


def _fit_vectors(train: list[dict], fresh: list[dict]) -> float:
    from sklearn.linear_model import LogisticRegression

    def x(rows):
        return [[*r["signal"], r["gain"]] for r in rows]

    model = LogisticRegression(max_iter=1000).fit(x(train), [r["positive"] for r in train])
    return _accuracy(model.predict(x(fresh)), [r["positive"] for r in fresh])


# ---- tickets and notes: free text -----------------------------------------------------------

_URGENT = "outage down crash urgent asap blocked failing lost breach stuck".split()
_ROUTINE = "question thanks when how invoice update rename feature suggestion later".split()
_FILLER = (
    "the our my we i a an to of in on for is are was since after login page server report "
    "customer account team email system today yesterday morning please help see attached"
).split()


def _ticket_text(rng: random.Random) -> tuple[str, str]:
    """A ticket of 5 to 25 words; urgent when its urgent words outnumber its routine ones, one
    label in 10 flipped."""
    u, r = rng.randint(0, 3), rng.randint(0, 3)
    while u == r:
        u, r = rng.randint(0, 3), rng.randint(0, 3)
    words = [rng.choice(_FILLER) for _ in range(rng.randint(5, 22))]
    words += [rng.choice(_URGENT) for _ in range(u)] + [rng.choice(_ROUTINE) for _ in range(r)]
    rng.shuffle(words)
    text = " ".join(w.upper() if rng.random() < 0.05 else w for w in words)
    urgent = (u > r) != (rng.random() < 0.1)
    return text.capitalize() + rng.choice([".", "!", "?", ""]), "urgent" if urgent else "routine"


def ticket_rows(n: int, seed: int) -> list[dict]:
    """Support tickets: the free-text `body`, the customer's `seats` (noise) and the label."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body, label = _ticket_text(rng)
        out.append({"body": body, "seats": rng.randint(1, 500), "priority": label})
    return out


def note_rows(n: int, seed: int) -> list[dict]:
    """Text only: the ticket's `body` and the label, no other column."""
    return [{"body": r["body"], "priority": r["priority"]} for r in ticket_rows(n, seed)]


def _write_text(name: str):
    def write(folder: Path, rows: list[dict]) -> None:
        _csv(folder, rows, name)
        _manifest(folder, "priority", name)

    return write


def _fit_tfidf(train: list[dict], fresh: list[dict]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000))
    model.fit([r["body"] for r in train], [r["priority"] for r in train])
    return _accuracy(model.predict([r["body"] for r in fresh]), [r["priority"] for r in fresh])


# ---- customers: a PostgreSQL table ------------------------------------------------------------


def customer_rows(n: int, seed: int) -> list[dict]:
    """tests/pg_server.py's customers table as the snapshot reads it: numeric as float, the
    timestamp as ISO 8601 text."""
    from tests import pg_server

    return [
        dict(zip(pg_server.PLAIN, (float(a), v, s, seg, t.isoformat(), c), strict=True))
        for a, v, s, seg, t, c in pg_server.customer_rows(n, seed, plain=True)
    ]


@contextlib.contextmanager
def _customers_source(folder: Path):
    """A throwaway PostgreSQL server (password authentication) holding the table `customers`
    (seed 7); the run's Airflow Connection carries the password, never the URI."""
    from tests import pg_server

    with pg_server.server(folder / "server") as pg:
        pg_server.customers(pg, "customers", rows=KINDS["customers"].n, seed=TRAIN_SEED, plain=True)
        conn = f"postgresql://{pg_server.USER}:{pg_server.PASSWORD}@127.0.0.1:{pg.port}/"
        yield pg_server.uri(pg), {"AIRFLOW_CONN_RETRAIN_POSTGRES": conn + pg_server.DB}


def _write_nothing(folder: Path, rows: list[dict]) -> None:
    (folder / "README").write_text("The rows live in PostgreSQL (bench/conformance/kinds.py).\n")


def _fit_customers(train: list[dict], fresh: list[dict]) -> float:
    from sklearn.linear_model import LogisticRegression

    segments = sorted({r["segment"] for r in train})

    def x(rows):
        return [
            [r["amount"], r["visits"], r["score"], *(r["segment"] == s for s in segments)]
            for r in rows
        ]

    model = LogisticRegression(max_iter=2000).fit(x(train), [r["churned"] for r in train])
    return _accuracy(model.predict(x(fresh)), [r["churned"] for r in fresh])


def source(name: str, folder: Path):
    """The context in which kind `name`'s run reads its data: (data, extra environment)."""
    kind = KINDS.get(name)
    if kind is None or kind.source is None:
        return contextlib.nullcontext((str(folder), {}))
    return kind.source(folder)


def _accuracy(predicted, truth) -> float:
    right = sum(str(p) == str(t) for p, t in zip(predicted, truth, strict=True))
    return round(right / len(truth), 4)


def majority(train: list[dict], fresh: list[dict], label: str) -> float:
    """The trivial baseline on the fresh rows: the training rows' most common label."""
    values = [r[label] for r in train]
    top = max(set(values), key=values.count)
    return _accuracy([top] * len(fresh), [r[label] for r in fresh])


KINDS = {
    k.name: k
    for k in (
        Kind(
            "events",
            "busy",
            2000,
            event_rows,
            _write_events,
            "gradient boosting on hour and weekday",
            _fit_events,
        ),
        Kind(
            "parquet_vectors",
            "positive",
            1200,
            vector_rows,
            _write_vectors,
            "logistic regression on the 16 values and the gain",
            _fit_vectors,
        ),
        Kind(
            "tickets",
            "priority",
            2000,
            ticket_rows,
            _write_text("tickets"),
            "TF-IDF (words and pairs) with logistic regression",
            _fit_tfidf,
        ),
        Kind(
            "notes",
            "priority",
            2000,
            note_rows,
            _write_text("notes"),
            "TF-IDF (words and pairs) with logistic regression",
            _fit_tfidf,
        ),
        Kind(
            "customers",
            "churned",
            1000,
            customer_rows,
            _write_nothing,
            "logistic regression on the columns (the segment one-hot)",
            _fit_customers,
            _customers_source,
        ),
    )
}


def maker(name: str) -> Callable[[Path], int]:
    """The corpus's `make(folder)` for kind `name`: its training rows (seed 7) in the folder."""

    def make(folder: Path) -> int:
        kind = KINDS[name]
        rows = kind.rows(kind.n, TRAIN_SEED)
        kind.write(folder, rows)
        return len(rows)

    make.__doc__ = KINDS[name].rows.__doc__
    return make


def fresh_check(name: str, predict: Callable) -> dict:
    """The pyfunc (`predict(frame) -> output`) on FRESH_ROWS fresh rows of kind `name`, beside
    the reference and the majority class on the same rows."""
    import numpy as np
    import pandas as pd

    kind = KINDS[name]
    train, fresh = kind.rows(kind.n, TRAIN_SEED), kind.rows(FRESH_ROWS, FRESH_SEED)
    frame = pd.DataFrame.from_records(fresh).drop(columns=[kind.label])
    for col in frame.columns:  # list cells as numpy arrays, as pandas reads Parquet
        if isinstance(frame[col].iloc[0], list):
            frame[col] = [np.asarray(v, dtype="float32") for v in frame[col]]
    out = predict(frame)
    return {
        "rows": len(fresh),
        "product": _accuracy(list(out["class"]), [r[kind.label] for r in fresh]),
        "reference": kind.fit(train, fresh),
        "reference_model": kind.reference,
        "majority": majority(train, fresh, kind.label),
    }
