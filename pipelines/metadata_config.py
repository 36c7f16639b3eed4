"""ML Metadata's connection: one SQLite file by default, PostgreSQL in production.

- SQLite (`metadata_uri` empty): the file at `metadata_path`, switched to WAL journaling (readers
  no longer block the writer; the mode is stored in the file) and with MLMD's client retrying
  aborted transactions (`ConnectionConfig.retry_options`). ML Metadata's SQLite config has no
  timeout or WAL field, hence the pragma on the file.
- PostgreSQL (`metadata_uri` = `postgresql://USER@HOST:PORT/DBNAME`, or `$RETRAIN_MLMD_URI`): ML
  Metadata 1.16 speaks it natively. The password never goes into settings, the compiled pipeline
  or a log: the node runner reads it from `$RETRAIN_MLMD_PASSWORD` (or a libpq passfile,
  `$RETRAIN_MLMD_PASSFILE`) when it connects.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

URI_ENV = "RETRAIN_MLMD_URI"
PASSWORD_ENV = "RETRAIN_MLMD_PASSWORD"
PASSFILE_ENV = "RETRAIN_MLMD_PASSFILE"
RETRIES = 10
# ML Metadata's schema is in place once its environment table exists.
SCHEMA_QUERY = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'MLMDEnv'"


def metadata_uri(settings) -> str:
    return settings.metadata_uri or os.environ.get(URI_ENV, "")


def connection_config(settings, *, with_secret: bool = False):
    """The ConnectionConfig for `settings`. `with_secret` adds the PostgreSQL password from the
    environment; the pipeline definition is compiled without it."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.retry_options.max_num_retries = RETRIES
    uri = metadata_uri(settings)
    if not uri:
        config.sqlite.filename_uri = settings.path(settings.metadata_path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return config
    from pipelines import mlmd_postgres

    mlmd_postgres.install()  # MLMD 1.16's backslash bug on PostgreSQL (see there)
    pg = config.postgresql
    pg.host, pg.port, pg.user, pg.dbname = postgres_target(uri)
    if with_secret:
        if os.environ.get(PASSWORD_ENV):
            pg.password = os.environ[PASSWORD_ENV]
        elif os.environ.get(PASSFILE_ENV):
            pg.passfile = os.environ[PASSFILE_ENV]
    return config


def postgres_target(uri: str) -> tuple[str, str, str, str]:
    """(host, port, user, dbname) of a postgresql:// URI; ValueError naming what is wrong.
    Pure Python, so the Airflow side can check a URI without ML Metadata installed."""
    parts = urlparse(uri)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"metadata_uri {redact(uri)!r}: only postgresql://USER@HOST:PORT/DBNAME is supported "
            "(leave it empty for the SQLite file at metadata_path)"
        )
    if parts.password:
        raise ValueError(
            f"metadata_uri {redact(uri)!r} holds a password; put it in ${PASSWORD_ENV} instead "
            "(settings are passed on command lines and logged)"
        )
    dbname = parts.path.lstrip("/")
    if not (parts.hostname and parts.username and dbname):
        raise ValueError(
            f"metadata_uri {uri!r} needs a user, a host and a database: "
            "postgresql://USER@HOST:PORT/DBNAME"
        )
    return parts.hostname, str(parts.port or 5432), unquote(parts.username), dbname


def redact(uri: str) -> str:
    parts = urlparse(uri)
    if parts.password is None:
        return uri
    return uri.replace(f":{parts.password}@", ":***@", 1)


def prepare(config) -> None:
    """Before a node connects: create the SQLite file's folder, switch the file to WAL and
    create ML Metadata's schema once, under a file lock beside it. Processes that create the
    schema at the same moment (concurrent first runs on a fresh store) abort each other's
    transactions until MLMD gives up ("Concurrent writes aborted after max number of
    retries", seen with three writers on a fresh file); later connections only read it."""
    if config.WhichOneof("config") != "sqlite":
        return
    path = Path(config.sqlite.filename_uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with sqlite3.connect(path, timeout=60) as db:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            schema = db.execute(SCHEMA_QUERY).fetchone()
        if mode.lower() != "wal":
            raise RuntimeError(f"could not switch ML Metadata's SQLite file {path} to WAL ({mode})")
        if schema is None:
            from ml_metadata.metadata_store import metadata_store

            metadata_store.MetadataStore(config)  # creates the schema


def describe(config) -> str:
    """One line for logs, without secrets."""
    kind = config.WhichOneof("config")
    if kind == "sqlite":
        retries = config.retry_options.max_num_retries
        return f"sqlite {config.sqlite.filename_uri} (WAL, {retries} retries)"
    pg = config.postgresql
    return f"postgresql {pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
