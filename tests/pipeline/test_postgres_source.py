"""A PostgreSQL table or query as the data (issue 34, part 5: core/pg_source.py,
core/pg_snapshot.py, pipelines/snapshot.py), against a real PostgreSQL server the tests start
(tests/pg_server.py: password authentication on TCP):

- the URI, the allowed roots (URI prefixes compared part by part) and a password in the URI;
- a wrong password, a missing table or database, an unreachable host and a failing query: one
  line each, no snapshot written;
- the snapshot: PostgreSQL's types as features (numbers, ISO 8601 text, vectors), keyed by what
  was read (not by the order the rows come in);
- through the pipeline (pipelines.run_node, every node as a DAG task runs it): a generated
  1,000-row table reaches a blessed, registered model whose pyfunc predicts raw rows, and a
  second run on the unchanged table reads the same snapshot: ExampleGen CACHED.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from core import pg_snapshot, pg_source
from pipelines.settings import REPO, Settings
from tests import pg_server
from tests.pipeline.local import settings

QUICK = {"max_trials": 1, "epochs": 8, "time_budget_min": 2, "explain": False}
QUICK |= {"edge_export": False, "data_profile": False}


def test_the_uri_names_a_table_or_a_query_and_never_a_password():
    s = pg_source.parse("postgresql://etl@db.example:5433/sales?table=public.orders")
    assert (s.user, s.host, s.port, s.dbname, s.table) == (
        "etl",
        "db.example",
        5433,
        "sales",
        "public.orders",
    )
    assert s.uri == "postgresql://etl@db.example:5433/sales?table=public.orders"
    assert s.model_name() == "orders"
    q = pg_source.parse("postgres://etl@db/sales?query=" + quote("SELECT a, b FROM t WHERE a > 1"))
    assert (q.port, q.table, q.query) == (5432, "", "SELECT a, b FROM t WHERE a > 1")
    assert pg_source.parse(q.uri) == q
    with pytest.raises(pg_source.SourceError) as secret:
        pg_source.parse("postgresql://etl:hunter2@db/sales?table=t")
    assert "hunter2" not in str(secret.value) and "password in the URI is refused" in str(
        secret.value
    )
    with pytest.raises(ValueError, match=r"^invalid settings: data: postgresql://h/db: a pass"):
        Settings(data="postgresql://etl:hunter2@h/db?table=t").validated()
    bad = {
        "postgresql://etl@db/sales": "exactly one of ?table=NAME and ?query",
        "postgresql://etl@db/sales?table=t&query=SELECT+1": "exactly one of",
        "postgresql://db/sales?table=t": "name the user and the database",
        "postgresql://etl@db/sales?table=t;drop": "is not a [schema.]name",
        "postgresql://etl@db/sales?tabel=t": "unknown URI parameter(s) ['tabel']",
        "postgresql://etl@db:port/sales?table=t": "the port is not a number",
    }
    for uri, line in bad.items():
        with pytest.raises(pg_source.SourceError, match=None) as refused:
            pg_source.parse(uri)
        assert line in str(refused.value) and "\n" not in str(refused.value), (uri, refused.value)


def test_allowed_roots_are_uri_prefixes_compared_part_by_part():
    roots = ["data", "postgresql://etl@db:5432/sales", "postgresql://db:5433"]
    inside = [
        "postgresql://etl@db/sales?table=orders",  # the default port
        "postgresql://etl@DB:5432/sales?query=SELECT+1",
        "postgresql://anyone@db:5433/other?table=t",  # the root names only host and port
    ]
    for uri in inside:
        assert pg_source.outside(uri, roots) is None, uri
    outside = [
        "postgresql://etl@db/sales2?table=orders",  # not a text prefix
        "postgresql://etl2@db/sales?table=orders",
        "postgresql://etl@db:5434/sales?table=orders",
        "postgresql://etl@db.evil/sales?table=orders",
    ]
    for uri in outside:
        line = pg_source.outside(uri, roots)
        assert (
            line
            and line.startswith("param data: postgresql://")
            and "outside the allowed roots" in line
        )
    only = ["postgresql://etl@db/sales?table=orders"]  # a root may name one table
    assert pg_source.outside("postgresql://etl@db/sales?table=orders", only) is None
    assert pg_source.outside("postgresql://etl@db/sales?table=users", only)
    assert pg_source.outside("postgresql://etl@db/sales?query=SELECT+1", only)
    assert "no postgresql:// root" in pg_source.outside(inside[0], ["data"])


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    with pg_server.server(tmp_path_factory.mktemp("pg")) as server:
        rows = pg_server.customers(server)
        server.rows = rows
        yield server


def snapshot_cli(data: str, root, password: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != pg_source.PASSWORD_ENV}
    if password is not None:
        env[pg_source.PASSWORD_ENV] = password
    return subprocess.run(
        [sys.executable, "-m", "pipelines.snapshot", "--data", data, "--root", str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_what_cannot_be_read_is_one_line_and_no_snapshot(pg, tmp_path):
    port = pg.port
    cases = {
        (
            pg_server.uri(pg),
            "wrong",
        ): f"PostgreSQL at 127.0.0.1:{port} refused the password of user 'etl'",
        (pg_server.uri(pg), None): "refused the password of user 'etl'",
        (
            pg_server.uri(pg, "nope"),
            pg_server.PASSWORD,
        ): f"table 'nope' of database 'sales' at 127.0.0.1:{port} does not exist (tables: "
        "customers",
        (
            f"postgresql://etl@127.0.0.1:{port}/nodb?table=t",
            pg_server.PASSWORD,
        ): "has no database 'nodb'",
        (
            "postgresql://etl@127.0.0.1:1/sales?table=t",
            pg_server.PASSWORD,
        ): "cannot reach PostgreSQL at 127.0.0.1:1",
        (
            f"postgresql://etl@127.0.0.1:{port}/sales?query=SELECT+nope+FROM+customers",
            pg_server.PASSWORD,
        ): 'column "nope" does not exist',
    }
    root = tmp_path / "snapshots"
    for (uri, password), line in cases.items():
        with pytest.raises(pg_source.SourceError) as refused:
            pg_source.probe(pg_source.parse(uri), password)
        assert line in str(refused.value) and "\n" not in str(refused.value), refused.value
        out = snapshot_cli(uri, root, password)
        last = out.stderr.strip().splitlines()[-1]
        assert out.returncode == 4 and last.startswith("RETRAIN ERROR permanent: "), out.stderr
        assert line in last, last
        assert pg_server.PASSWORD not in out.stdout + out.stderr
    assert not glob.glob(str(root / "*")), os.listdir(root)


def test_the_snapshot_types_columns_and_is_keyed_by_what_it_read(pg, tmp_path):
    from core import columns, parquet

    columns_sql = "v float8[], n int[], at timestamptz, d date, j jsonb, ok boolean, price numeric"
    pg_server.execute(pg, f"CREATE TABLE kinds ({columns_sql})")
    first_row = "ARRAY[1.5, 2.5], ARRAY[1, 2], '2024-03-01 10:30:00+02', '2024-02-29', '{\"a\": 1}'"
    pg_server.execute(
        pg, f"INSERT INTO kinds VALUES ({first_row}, true, 12.5), ({', '.join(['NULL'] * 7)})"
    )
    found = pg_snapshot.take(
        pg_source.parse(pg_server.uri(pg, "kinds")), pg_server.PASSWORD, str(tmp_path)
    )
    [first, empty] = list(parquet.examples(os.path.join(found["folder"], pg_snapshot.FILE)))
    assert first == {
        "v": ("float", [1.5, 2.5]),
        "n": ("int64", [1, 2]),
        "at": ("bytes", [b"2024-03-01T08:30:00+00:00"]),
        "d": ("bytes", [b"2024-02-29"]),
        "j": ("bytes", [b'{"a": 1}']),
        "ok": ("int64", [1]),
        "price": ("float", [12.5]),
    }
    assert columns.iso_time("2024-03-01T08:30:00+00:00")
    assert all(values == [] for _, values in empty.values())
    # The same rows in another order: the same key; one changed value: another.
    uri = pg_server.uri(pg)
    a = pg_snapshot.take(pg_source.parse(uri), pg_server.PASSWORD, str(tmp_path))
    query = quote("SELECT * FROM customers ORDER BY random()")
    b = pg_snapshot.take(
        pg_source.parse(f"{uri.split('?')[0]}?query={query}"), pg_server.PASSWORD, str(tmp_path)
    )
    assert a["folder"] == b["folder"] and a["rows"] == pg_server.ROWS
    changed = pg_source.parse(
        f"{uri.split('?')[0]}?query={quote('SELECT * FROM customers WHERE visits > 0')}"
    )
    assert pg_snapshot.take(changed, pg_server.PASSWORD, str(tmp_path))["folder"] != a["folder"]
    empty = pg_source.parse(f"{uri.split('?')[0]}?query={quote('SELECT * FROM customers LIMIT 0')}")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(pg_source.SourceError, match=r"^the query of database 'sales' .* no rows$"):
        pg_snapshot.take(empty, pg_server.PASSWORD, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == before


def run_all(s: Settings, run_id: str) -> dict[str, dict]:
    """Every node of the pipeline in order, as the DAG's tasks run them: {node: result}."""
    from pipelines.run_node import run_node, topology

    order, upstream = [], topology(s)
    while len(order) < len(upstream):
        order += [
            n for n, up in sorted(upstream.items()) if n not in order and set(up) <= set(order)
        ]
    return {node: run_node(s, run_id, node) for node in order}


def test_a_table_reaches_a_blessed_model_and_an_unchanged_table_is_cached(pg, tmp_path):
    import mlflow

    uri = pg_server.uri(pg)
    root = tmp_path / "root" / "_snapshots"
    with pytest.raises(ValueError, match="no snapshot of it was taken"):
        settings(tmp_path, uri, label="churned").data_folder()
    first = pg_snapshot.take(pg_source.parse(uri), pg_server.PASSWORD, str(root))
    s = settings(tmp_path, uri, label="churned", data_snapshot=first["folder"], **QUICK)
    assert s.registered_model_name == "customers" and s.data_source() == uri
    results = run_all(s, "pg-1")
    assert all(r["state"] == "COMPLETE" for r in results.values()), results
    pushed = results["Pusher"]["pushed"]
    assert pushed["pushed"] and pushed["promotion"], pushed
    # The pyfunc of @champion on raw rows, as a user sends them (no label, the signup as text).
    mlflow.set_tracking_uri(s.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/customers@champion")
    import pandas as pd

    fresh = pg_server.customers(pg, "fresh", rows=300, seed=7)
    predicted = model.predict(pd.DataFrame(pg_server.raw_rows(fresh)))
    truth = [r[-1] for r in fresh]
    said = [int(v) for v in predicted[predicted.columns[0]]]
    accuracy = sum(p == t for p, t in zip(said, truth, strict=True)) / len(truth)
    majority = max(sum(truth), len(truth) - sum(truth)) / len(truth)
    assert accuracy > max(0.75, majority + 0.1), (accuracy, majority)
    # A second run on the unchanged table: the same snapshot folder, ExampleGen CACHED.
    second = pg_snapshot.take(pg_source.parse(uri), pg_server.PASSWORD, str(root))
    assert second["folder"] == first["folder"]
    s2 = settings(tmp_path, uri, label="churned", data_snapshot=second["folder"], **QUICK)
    from pipelines.run_node import run_node

    assert run_node(s2, "pg-2", "ExampleGen")["state"] == "CACHED"
    # Retention keeps the snapshot a kept run read; an older one nothing read goes.
    from ml_metadata import metadata_store

    from pipelines import metadata_config, retention

    old = root / "0123456789abcdef01234567"
    old.mkdir()
    store = metadata_store.MetadataStore(metadata_config.connection_config(s2, with_secret=True))
    found = retention.plan(store, 1, {})
    assert list(found["keep"]) == ["pg-2"] and found["inputs"] == {first["folder"]}, found
    later = time.time() + 2 * 86400
    assert retention.snapshot_folders(root, found["inputs"], later) == [old]
    assert retention.snapshot_folders(root, found["inputs"], time.time()) == []  # too young
