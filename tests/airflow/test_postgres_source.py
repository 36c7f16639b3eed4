"""A PostgreSQL table as the retrain DAG's data (issue 34, part 5), against a real PostgreSQL
server (tests/pg_server.py: password authentication on TCP), with the password in an Airflow
Connection given as $AIRFLOW_CONN_RETRAIN_POSTGRES:

- check_params refuses, in one line and before any node runs: a source outside the allowed
  roots, a missing Connection, a Connection for another user, a wrong password, a missing
  table, an unreachable host, a label that is not a column;
- it reads the snapshot and hands its folder to the nodes, the password in no setting;
- one DAG run (`airflow dags test`) on a generated 1,000-row table registers a blessed model,
  and the password is nowhere in its output. The table is shaped as users' tables are (issue
  34): an event time (a PostgreSQL timestamp), a customer ID, a free-text note, besides
  numbers and a category; its snapshot is Parquet. So this one run drives a Parquet source, a
  time column, an ID column and a text column through the DAG: each is named in one line, and
  the registered pyfunc predicts fresh raw rows (the time as ISO text, the note as written)
  well above the majority class.
"""

from __future__ import annotations

import json

import pytest
from retrain import PARAMS
from retrain_support import builder, keyboard, trust

from core import settings as contract
from tests import pg_server
from tests.airflow.conftest import REPO, TFX_PYTHON, dag_test, run_summary
from tests.commands import last_json

DEFAULTS = {name: p.value for name, p in PARAMS.items()}
CONN = "AIRFLOW_CONN_RETRAIN_POSTGRES"
QUICK = {"max_trials": 1, "epochs": 8, "time_budget_min": 2, "explain": False}


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    with pg_server.server(tmp_path_factory.mktemp("pg")) as server:
        pg_server.customers(server)
        yield server


def conn_uri(pg, password=pg_server.PASSWORD, user=pg_server.USER, port=None) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port or pg.port}/{pg_server.DB}"


def checked(tmp_path, data: str, **kw) -> dict:
    """check_params's data check on the run's settings."""
    settings = {"data": data, "pipeline_root": str(tmp_path / "root"), "label": "churned", **kw}
    return builder.check_data(settings)


def test_a_source_outside_the_allowed_roots_is_refused(pg):
    roots = {"allowed_roots": [".", f"postgresql://etl@127.0.0.1:{pg.port}/sales"]}
    inside = pg_server.uri(pg)
    assert trust.problems({"data": inside}, DEFAULTS, roots, contract, REPO) == []
    other = inside.replace("/sales?", "/salesx?")
    [line] = trust.problems({"data": other}, DEFAULTS, roots, contract, REPO)
    assert line == (
        f"param data: postgresql://etl@127.0.0.1:{pg.port}/salesx?table=customers is outside "
        f"the allowed roots (postgresql://etl@127.0.0.1:{pg.port}/sales); an operator adds a URI "
        "prefix such as postgresql://USER@HOST:PORT/DB in allowed_roots"
    )
    # The default roots hold no URI prefix: no PostgreSQL source is trusted by default.
    assert trust.problems({"data": inside}, DEFAULTS, {}, contract, REPO)


def test_make_run_trusts_the_database_it_names():
    """make run DATA=postgresql://... (keyboard.py): that database joins the run's roots."""
    data = "postgresql://etl@db/sales?table=orders"
    assert keyboard.conf('{"epochs": 1}', data, "y") == {
        "epochs": 1,
        "data": "postgresql://etl@db:5432/sales?table=orders",
        "label": "y",
    }
    roots = keyboard.operator_settings(data, {"RETRAIN_ALLOWED_ROOTS": '["data"]'})
    assert roots == {"allowed_roots": ["data", "postgresql://etl@db:5432/sales"]}
    with pytest.raises(ValueError, match="a password in the URI is refused") as refused:
        keyboard.conf("", "postgresql://etl:Hunter-2@db/sales?table=orders", "")
    assert "Hunter-2" not in str(refused.value)


def test_what_cannot_be_read_is_refused_in_one_line(pg, tmp_path, monkeypatch):
    uri = pg_server.uri(pg)
    monkeypatch.delenv(CONN, raising=False)
    cases = [
        ({}, uri, "the Airflow Connection 'retrain_postgres' (postgres_conn_id) is not defined"),
        ({CONN: conn_uri(pg, "wrong")}, uri, "refused the password of user 'etl'"),
        ({CONN: conn_uri(pg, user="admin")}, uri, "is for login 'admin', not this source's"),
        ({CONN: conn_uri(pg)}, pg_server.uri(pg, "orders"), "table 'orders' of database"),
        ({CONN: conn_uri(pg, port=1)}, uri.replace(str(pg.port), "1"), "cannot reach PostgreSQL"),
        ({CONN: conn_uri(pg)}, uri.replace(str(pg.port), "1"), "is for port"),
    ]
    for env, data, line in cases:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ValueError) as refused:
            checked(tmp_path, data)
        text = str(refused.value)
        assert line in text and "\n" not in text and pg_server.PASSWORD not in text, text
    monkeypatch.setenv(CONN, conn_uri(pg))
    with pytest.raises(ValueError, match=r"label 'target' is not a column of postgresql://\S+ "):
        checked(tmp_path, uri, label="target")
    assert not (tmp_path / "root").exists()  # no snapshot read


def test_the_snapshot_reaches_the_nodes_without_the_password(pg, tmp_path, monkeypatch):
    monkeypatch.setenv(CONN, conn_uri(pg))
    settings = checked(tmp_path, pg_server.uri(pg))
    folder = settings["data_snapshot"]
    assert folder.startswith(str(tmp_path / "root" / "_snapshots")), folder
    assert pg_server.PASSWORD not in json.dumps(settings)
    again = checked(tmp_path, pg_server.uri(pg))
    assert again["data_snapshot"] == folder  # unchanged table, the same folder


def test_a_dag_run_on_a_table_registers_a_blessed_model(pg, airflow_db, tmp_path):
    conf = {"data": pg_server.uri(pg), "label": "churned", **QUICK}
    run_id, state, log = dag_test(
        conf,
        tmp_path / "state",
        **{
            CONN: conn_uri(pg),
            "RETRAIN_ALLOWED_ROOTS": json.dumps([".", f"postgresql://127.0.0.1:{pg.port}"]),
            "RETRAIN_SETTINGS": json.dumps({"data_profile": False, "edge_export": False}),
        },
    )
    assert state == "success", log[-5000:]
    assert pg_server.PASSWORD not in log
    s = run_summary(run_id, tmp_path / "state" / "metadata.sqlite")
    assert s["blessed"] is True and s["pushed_to"] == "models:/customers/1", s
    assert s["nodes"]["ExampleGen"]["state"] == "COMPLETE", s["nodes"]
    for line in (
        "time columns: 'signup' (ISO 8601, detected)",
        "ID-like column 'customer_id': 1000 distinct values in 1000 rows; left out of the model",
        "text columns: 'note' (detected)",
    ):
        assert line in log, line
    got = last_json(
        [TFX_PYTHON, "-c", SCORE, f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"], timeout=600
    )
    assert got["accuracy"] > max(0.75, got["majority"] + 0.1), got


# The registered pyfunc on 300 fresh raw rows, as a client sends them: no label, the signup
# time as ISO text, the customer ID and the note as written.
SCORE = """
import json, sys
import mlflow, pandas as pd
from tests import pg_server
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
rows = pg_server.customer_rows(300, seed=7)
frame = pd.DataFrame(pg_server.raw_rows(rows))
out = mlflow.pyfunc.load_model("models:/customers/1").predict(frame)
said = [int(v) for v in out[out.columns[0]]]
truth = [r[-1] for r in rows]
right = sum(a == b for a, b in zip(said, truth)) / len(truth)
majority = max(sum(truth), len(truth) - sum(truth)) / len(truth)
print(json.dumps({"accuracy": right, "majority": majority}))
"""
