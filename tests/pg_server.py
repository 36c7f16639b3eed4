"""A throwaway PostgreSQL server for the PostgreSQL-source tests of both test trees
(stack/postgres.py: Debian's binaries, SCRAM password authentication on TCP), with the database
`sales` owned by the login role `etl`, and a generated table in it. Standard library only here
(psycopg2 is in both environments)."""

from __future__ import annotations

import contextlib
import datetime
import math
import random

USER, PASSWORD, DB = "etl", "s3cret-Pg-password", "sales"
ROWS = 1000
START = datetime.datetime(2025, 1, 1)
SEGMENTS = ("retail", "wholesale", "online")


@contextlib.contextmanager
def server(root):
    """A running server under `root`: (host, port). Removed afterwards."""
    from stack.native import free_port
    from stack.postgres import Postgres

    pg = Postgres(root, free_port())
    try:
        pg.start()
        pg.create_database(DB, USER, PASSWORD)
        yield pg
    finally:
        pg.remove()


def uri(pg, table: str = "customers", user: str = USER) -> str:
    return f"postgresql://{user}@127.0.0.1:{pg.port}/{DB}?table={table}"


def execute(pg, statement: str, params=None, password: str = PASSWORD) -> list:
    """One statement as `etl` over TCP (password authentication), committed; its rows."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=USER, password=password, dbname=DB)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


TYPES = {
    "amount": "numeric(10, 2)",
    "visits": "integer",
    "score": "double precision",
    "segment": "text",
    "signup": "timestamp",
    "customer_id": "text",
    "note": "text",
    "churned": "integer",
}
COLUMNS = tuple(TYPES)  # the label last
# The table without the ID and the note (bench/conformance/kinds.py's `customers`, measured so).
PLAIN = tuple(c for c in COLUMNS if c not in ("customer_id", "note"))
# The note: free text (core/columns.py detects it), a few words of which lean to one label.
CALM = "thanks fine happy renewed upgraded pleased".split()
ANGRY = "cancel refund angry slow complaint switching".split()
FILLER = "called about the invoice account plan support order my team was in last week".split()


def customers(
    pg, table: str = "customers", rows: int = ROWS, seed: int = 0, plain: bool = False
) -> list[tuple]:
    """The table `table` (customer_rows) in the server. Its rows."""
    out = customer_rows(rows, seed, plain)
    names = PLAIN if plain else COLUMNS
    execute(pg, f"CREATE TABLE {table} ({', '.join(f'{c} {TYPES[c]}' for c in names)})")
    values = ",".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * len(out))
    execute(pg, f"INSERT INTO {table} VALUES {values}", [v for row in out for v in row])
    return out


def customer_rows(rows: int = ROWS, seed: int = 0, plain: bool = False) -> list[tuple]:
    """Rows as COLUMNS (as PLAIN when `plain`): churned (the label, 0/1, last) is a logistic
    function of score, visits and segment, a label a linear model gets about 90% right; the
    signup time carries nothing; customer_id is an ID (one value a row); the note (free text, 3
    to 9 words) holds a word of the label's leaning in two rows of three. `plain` rows draw the
    same numbers as before the ID and the note existed."""
    rnd = random.Random(seed)
    out = []
    for i in range(rows):
        score, visits = rnd.gauss(0, 1), rnd.randrange(0, 20)
        segment = rnd.choice(SEGMENTS)
        logit = (
            3.0 * score
            - 0.25 * (visits - 10)
            + {"retail": 0, "wholesale": 2, "online": -2}[segment]
        )
        churned = int(rnd.random() < 1 / (1 + math.exp(-logit)))
        signup = START + datetime.timedelta(minutes=rnd.randrange(200 * 24 * 60))
        amount = round(rnd.uniform(5, 500), 2)
        if plain:
            out.append((amount, visits, score, segment, signup, churned))
            continue
        words = [rnd.choice(FILLER) for _ in range(rnd.randint(3, 8))]
        if rnd.random() < 2 / 3:
            words.insert(rnd.randrange(len(words)), rnd.choice(ANGRY if churned else CALM))
        note = " ".join(words)
        out.append((amount, visits, score, segment, signup, f"c{seed:02d}-{i:06d}", note, churned))
    return out


def raw_rows(rows: list[tuple]) -> list[dict]:
    """`rows` (customer_rows) as a client sends them to the registered pyfunc: no label, the
    signup time as ISO text, the ID and the note as written."""
    return [
        dict(zip(COLUMNS[:-1], (*r[:4], r[4].isoformat(), *r[5:-1]), strict=True)) for r in rows
    ]
