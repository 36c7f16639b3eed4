"""What the production profile (stack/) writes for its servers, read back by the servers' own
readers: MLflow's basic-auth INI."""

from __future__ import annotations

import configparser

import pytest
from mlflow.server.auth.config import read_auth_config

from stack.mlflow_server import auth_ini

# A URL-encoded password ("p@ss%/word") in the auth database's URI: `%` in the INI.
URI = "postgresql://mlflow:p%40ss%25%2Fword@127.0.0.1:5432/mlflow"


def test_a_percent_in_the_auth_database_uri_reaches_mlflow_intact(tmp_path, monkeypatch):
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(auth_ini(URI))
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    config = read_auth_config()
    assert config.database_uri == URI
    assert config.default_permission == "READ"
    assert config.authorization_function.endswith(":authenticate_request_basic_auth")
    # The INI as it was written before (the value as is) is what MLflow cannot read.
    naive = configparser.ConfigParser()
    naive.read_string(f"[mlflow]\ndatabase_uri = {URI}\n")
    with pytest.raises(configparser.InterpolationSyntaxError):
        naive["mlflow"]["database_uri"]


def test_a_database_and_role_with_names_sql_would_misread(tmp_path):
    """stack/postgres.py quotes names (psycopg2.sql.Identifier) and the password (Literal):
    a role and a database named with a capital, a space and a quote, a password with quotes
    and a %, and the role can log in over TCP to its own database only."""
    import psycopg2

    from stack.native import free_port
    from stack.postgres import Postgres

    pg = Postgres(tmp_path, free_port())
    name, role, password = 'Ml "data" 1', "Pipeline O'Neil", "it's 100% 'secret'"
    try:
        pg.start()
        pg.create_database(name, role, password)
        pg.create_database(name, role, password)  # again: the role altered, nothing new
        conn = psycopg2.connect(
            host="127.0.0.1", port=pg.port, user=role, password=password, dbname=name
        )
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == (role, name)
        conn.close()
        roles = pg.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", (role,)
        )
        assert roles == [(False, False, False)]
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(host="127.0.0.1", port=pg.port, user=role, password="x", dbname=name)
    finally:
        pg.remove()
