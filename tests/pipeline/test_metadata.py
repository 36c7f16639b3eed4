"""ML Metadata's connection (SQLite in WAL mode with retries; PostgreSQL built from a URI and a
password in the environment) and the per-(run, node) launch lock."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from pipelines import metadata_config, run_node
from pipelines.retrain import create_pipeline
from pipelines.settings import REPO, Settings

SENTINEL = "s3ntinel-Pa55word"


def settings(tmp_path, **kw) -> Settings:
    return Settings(
        pipeline_root=str(tmp_path / "root"), metadata_path=str(tmp_path / "m.sqlite"), **kw
    )


def test_sqlite_store_runs_in_wal_mode_with_retries(tmp_path, monkeypatch):
    monkeypatch.delenv(metadata_config.URI_ENV, raising=False)
    config = metadata_config.connection_config(settings(tmp_path))
    assert config.sqlite.filename_uri == str(tmp_path / "m.sqlite")
    assert config.retry_options.max_num_retries == metadata_config.RETRIES
    metadata_config.prepare(config)
    with sqlite3.connect(tmp_path / "m.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


HAMMER = textwrap.dedent(
    """
    import sys
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from pipelines import metadata_config
    from pipelines.settings import Settings

    s = Settings(metadata_path=sys.argv[1])
    config = metadata_config.connection_config(s)
    metadata_config.prepare(config)
    store = metadata_store.MetadataStore(config)
    et = store.put_execution_type(pb.ExecutionType(name="T"))
    at = store.put_artifact_type(pb.ArtifactType(name="A"))
    for i in range(150):
        a = pb.Artifact(type_id=at, uri=f"/{sys.argv[2]}/{i}")
        store.put_execution(pb.Execution(type_id=et), [(a, pb.Event(type=pb.Event.OUTPUT))], [])
        store.get_executions()
    print("done", flush=True)
    """
)


def test_concurrent_writers_share_one_sqlite_store(tmp_path):
    """Three processes write to one store at once, as concurrent DAG runs do."""
    path = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(path), f"w{i}"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "done" in out, err[-2000:]
        assert "database is locked" not in err
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM Execution").fetchone()[0] == 450


def test_postgres_config_takes_the_password_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(metadata_config.PASSWORD_ENV, SENTINEL)
    s = settings(tmp_path, metadata_uri="postgresql://mlmd@db.internal:6543/metadata")
    config = metadata_config.connection_config(s, with_secret=True)
    pg = config.postgresql
    assert (pg.host, pg.port, pg.user, pg.dbname, pg.password) == (
        "db.internal",
        "6543",
        "mlmd",
        "metadata",
        SENTINEL,
    )
    assert config.retry_options.max_num_retries == metadata_config.RETRIES
    assert SENTINEL not in metadata_config.describe(config)
    assert not metadata_config.connection_config(s).postgresql.password
    # The compiled pipeline carries no password: only the node runner adds it when connecting.
    from tfx.dsl.compiler import compiler

    ir = compiler.Compiler().compile(create_pipeline(s))
    assert SENTINEL.encode() not in ir.SerializeToString()
    assert b"db.internal" in ir.SerializeToString()


def test_metadata_uri_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(metadata_config.URI_ENV, "postgresql://u@h/db")
    config = metadata_config.connection_config(settings(tmp_path))
    assert (config.postgresql.host, config.postgresql.port) == ("h", "5432")


@pytest.mark.parametrize(
    "uri, message",
    [
        (f"postgresql://mlmd:{SENTINEL}@db/metadata", "RETRAIN_MLMD_PASSWORD"),
        ("mysql://mlmd@db/metadata", "only postgresql://"),
        ("postgresql://db/metadata", "needs a user"),
        ("postgresql://mlmd@db", "needs a user, a host and a database"),
    ],
)
def test_bad_metadata_uri_is_named_without_echoing_a_password(uri, message):
    with pytest.raises(ValueError, match=message) as err:
        Settings.from_json(json.dumps({"metadata_uri": uri}))
    assert SENTINEL not in str(err.value)


def test_a_second_launch_of_the_same_node_and_run_is_refused(tmp_path):
    s = settings(tmp_path)
    with run_node.node_lock(s, "manual__2026-11-28T02:00:00+00:00", "Tuner"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.run_node",
                "--node",
                "Tuner",
                "--run-id",
                "manual__2026-11-28T02:00:00+00:00",
                "--settings",
                s.to_json(),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 3, out.stderr[-2000:]
        assert (
            "node Tuner of pipeline run manual__2026-11-28T02:00:00+00:00 is already running"
            in (out.stderr)
        )
        # Another node of the same run, or the same node of another run, is not blocked.
        with run_node.node_lock(s, "manual__2026-11-28T02:00:00+00:00", "Trainer"):
            pass
        with run_node.node_lock(s, "scheduled__other", "Tuner"):
            pass


def test_the_lock_dies_with_its_process(tmp_path):
    """kill -9 of the launching process releases the lock, so Airflow's retry can launch."""
    s = settings(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipelines import run_node;"
            "from pipelines.settings import Settings;"
            "s = Settings.from_json(sys.argv[1]);"
            "ctx = run_node.node_lock(s, 'r1', 'Tuner'); ctx.__enter__();"
            "print('held', flush=True);"
            "time.sleep(600)",
            s.to_json(),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(run_node.NodeBusy, match=f"pid {holder.pid}"):
            with run_node.node_lock(s, "r1", "Tuner"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    with run_node.node_lock(s, "r1", "Tuner"):
        pass


def test_embedded_mlflow_store_is_created_once_by_racing_processes(tmp_path):
    """Two DAG runs start nodes at the same moment on a fresh SQLite MLflow store: without the
    lock in core/tracking.py (prepare_store) one of them failed with `table ... already
    exists`."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import sys; from core import tracking; "
        f"tracking.prepare_store({uri!r}, {str(tmp_path / 'mlartifacts')!r}); print('ok')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    from core import tracking

    assert tracking._ready(tmp_path / "mlflow.db")
