"""Which node failures are retried (core/failures.py), and how the node runner reports them.

Permanent (data, schema, settings, user module) fail at once; transient (connections, timeouts,
out of memory, a killed process) are retried; anything unknown is retried. Types are read
through wrapped chains; Beam's and MLflow's wrappers by their text. The last tests raise the
real errors of TensorFlow, Beam and MLflow."""

from __future__ import annotations

import errno
import gzip
import json
import sqlite3
import subprocess
import zlib
from pathlib import Path

import pytest

from core import failures
from core.tfrecord import TFRecordError
from nas.search import SearchFailed


def raised(make):
    """The exception `make()` raises (chains as Python builds them)."""
    try:
        make()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("nothing raised")


def named(name: str, base: type = Exception, module: str = "somelib.errors") -> type:
    """A stand-in for a library's exception class of that name (no import of the library)."""
    return type(name, (base,), {"__module__": module})


def kind(e: BaseException) -> str:
    return failures.classify(e).kind


PERMANENT = [
    TypeError("Expected int64 passed to parameter 'default_value', got '' of type 'str'"),
    ValueError("label 'target' is not a column"),
    KeyError("species"),
    IndexError("list index out of range"),
    AttributeError("module 'model_module' has no attribute 'run_fn'"),
    ImportError("No module named 'my_features'"),
    SyntaxError("invalid syntax"),
    NotImplementedError(),
    ZeroDivisionError("division by zero"),
    FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/x"),
    PermissionError(errno.EACCES, "Permission denied"),
    json.JSONDecodeError("Expecting value", "{", 1),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    zlib.error("Error -3 while decompressing data: incorrect header check"),
    gzip.BadGzipFile("Not a gzipped file (b'no')"),
    EOFError("Compressed file ended before the end-of-stream marker was reached"),
    TFRecordError("part-0.tfrecord: not a readable TFRecord file"),
    named("DataValidationError", RuntimeError, "components.data_validator.executor")("bad data"),
    named("InvalidArgumentError")("indices[0] = 7 is not in [0, 3)"),
    named("DataLossError")("corrupted record at 0"),
    named("FailedPreconditionError")("uninitialized value"),
    named("DecodeError", module="google.protobuf.message")("Error parsing message"),
    named("LeaderboardError", RuntimeError)("no finished search"),
    SearchFailed("no trial of the evolution search finished; see the trial messages above"),
]
TRANSIENT = [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    BrokenPipeError(errno.EPIPE, "Broken pipe"),
    TimeoutError("timed out"),
    MemoryError(),
    OSError(errno.ENOSPC, "No space left on device"),
    sqlite3.OperationalError("database is locked"),
    named("OperationalError", module="sqlalchemy.exc")("(MySQLdb.OperationalError) gone away"),
    named("ConnectionError", OSError, "requests.exceptions")("Max retries exceeded"),
    named("ResourceExhaustedError")("OOM when allocating tensor with shape[4096,4096]"),
    named("UnavailableError")("Socket closed"),
    named("NodeBusy", RuntimeError, "pipelines.run_node")("node Tuner is already running"),
    subprocess.CalledProcessError(-9, ["python", "-m", "worker"]),
    subprocess.TimeoutExpired(["pip"], 60),
]


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_deterministic_failures_are_permanent(error):
    assert kind(error) == failures.PERMANENT, failures.classify(error)


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_failures_of_the_world_around_are_transient(error):
    assert kind(error) == failures.TRANSIENT, failures.classify(error)


def test_unknown_failures_are_transient_and_say_so():
    for error in [RuntimeError("something odd"), named("WeirdThing")("?"), Exception()]:
        verdict = failures.classify(error)
        assert verdict.kind == failures.TRANSIENT
        assert "not known: retried by default" in verdict.reason


def test_the_chain_is_read_cause_and_context():
    def from_connection():
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        except OSError as e:
            raise ValueError("could not log the model") from e

    def wrapped_type_error():
        try:
            raise TypeError("Expected int64")
        except TypeError:
            raise RuntimeError("Execution 7 failed")  # noqa: B904 (implicit context)

    # a lost connection behind a permanent-looking type is still a lost connection
    assert kind(raised(from_connection)) == failures.TRANSIENT
    assert kind(raised(wrapped_type_error)) == failures.PERMANENT
    assert "TypeError (behind RuntimeError)" in failures.classify(raised(wrapped_type_error)).reason


def test_a_hidden_context_is_not_read():
    def hidden():
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        except OSError:
            raise ValueError("setting mlflow_tracking_uri: not a URI") from None

    assert kind(raised(hidden)) == failures.PERMANENT


def test_beam_style_text_is_read():
    # Beam re-raises a worker's error it cannot rebuild as a RuntimeError holding its text.
    beam = RuntimeError(
        "TypeError: Expected int64 passed to parameter 'default_value' of op 'SparseToDense', "
        "got '' of type 'str' [while running 'AnalyzeDataset/RunPhase0']"
    )
    assert kind(beam) == failures.PERMANENT
    remote = RuntimeError(
        "Pipeline job BeamApp failed in state FAILED: Traceback (most recent call last):\n"
        '  File "transform.py", line 10, in process\n'
        "    raise ValueError('bad')\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: indices out of bounds\n"
    )
    verdict = failures.classify(remote)
    assert verdict.kind == failures.PERMANENT
    # the line is the traceback's last exception line, not "Traceback (most recent call last):"
    assert verdict.line == (
        "RuntimeError: tensorflow.python.framework.errors_impl.InvalidArgumentError: "
        "indices out of bounds"
    )
    for text in [
        "Error -3 while decompressing data: incorrect header check",
        "zlib.error: Error -3 while decompressing data",
        "corrupted record at 12",
        "KeyError: 'species' [while running 'Transform']",
        "Split pattern /data/signals/*.csv does not match any files.",  # TFX ExampleGen
        "Files in same split /data/*.csv have different header.",
    ]:
        assert kind(RuntimeError(text)) == failures.PERMANENT, text
    for text in [
        "ConnectionRefusedError: [Errno 111] Connection refused [while running 'Push']",
        "The following failures occurred while uploading one or more artifacts: "
        "Max retries exceeded with url: /api/2.0/mlflow-artifacts/artifacts/model.pb",
        "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 503 != 200",
        "OOM when allocating tensor with shape[64,1024]",
        "node process 4242 was killed by signal 9",
    ]:
        assert kind(RuntimeError(text)) == failures.TRANSIENT, text


def test_the_line_is_one_readable_line():
    long = ValueError("data validation failed: " + "x" * 5000 + "\nsecond line")
    line = failures.classify(long).line
    assert "\n" not in line and len(line) <= failures.MAX_LINE
    assert line.startswith("ValueError: data validation failed: xxx")
    assert failures.classify(KeyError("species")).line == "KeyError: 'species'"
    assert failures.classify(NotImplementedError()).line == "NotImplementedError"


def test_exit_statuses():
    assert failures.status_is_permanent(failures.EXIT_PERMANENT)
    assert failures.status_is_permanent(failures.EXIT_USAGE)
    for status in (failures.EXIT_FAILED, failures.EXIT_BUSY, 137, -9, 143):
        assert not failures.status_is_permanent(status), status


# ---- the node runner ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, status, kind_",
    [
        (TypeError("Expected int64 passed to 'default_value'"), 4, "permanent"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), 1, "transient"),
        (RuntimeError("something odd"), 1, "transient"),
    ],
)
def test_node_runner_exits_by_the_verdict(error, status, kind_, tmp_path, monkeypatch, capsys):
    from pipelines import run_node

    def fail(*_args, **_kw):
        raise error

    monkeypatch.setattr(run_node, "run_node", fail)
    settings = {"pipeline_root": str(tmp_path / "root"), "metadata_path": str(tmp_path / "m")}
    argv = ["--run-id", "r1", "--node", "Transform", "--settings", json.dumps(settings)]
    assert run_node.main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"RETRAIN ERROR {kind_}: {failures.classify(error).line}", err[-3:]
    assert "Traceback (most recent call last)" in "\n".join(err)


def test_node_runner_bad_settings_are_permanent(capsys):
    from pipelines import run_node

    assert run_node.main(["--run-id", "r", "--node", "Transform", "--settings", "{"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("RETRAIN ERROR permanent: bad settings:")
    )


# ---- the real errors of the libraries --------------------------------------------------------


def test_mlflow_with_its_server_down_is_transient(monkeypatch):
    """What MlflowClient raises when nothing listens on the tracking server's port."""
    import socket

    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"  # closed: nothing listens
    error = raised(lambda: MlflowClient(uri, registry_uri=uri).search_model_versions("name='m'"))
    assert type(error).__name__ == "MlflowException"
    verdict = failures.classify(error)
    assert verdict.kind == failures.TRANSIENT, verdict
    assert "Connection refused" in verdict.line or "Max retries" in verdict.line
    assert "Traceback" not in verdict.line


def test_mlflow_error_codes():
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE

    bad = MlflowException("bad alias", error_code=INVALID_PARAMETER_VALUE)
    assert kind(bad) == failures.PERMANENT
    down = MlflowException("busy", error_code=TEMPORARILY_UNAVAILABLE)
    assert kind(down) == failures.TRANSIENT
    assert kind(RestException({"error_code": "INTERNAL_ERROR", "message": "boom"})) == "transient"
    text = "API request to endpoint /x failed with error code 502 != 200. Response body: ''"
    assert kind(MlflowException(text)) == failures.TRANSIENT


def test_tensorflow_and_beam_errors():
    """A corrupt TFRecord read by TensorFlow, the Transform type error of issue 22 and a TF op's
    InvalidArgumentError, each raised inside a Beam DoFn as a node would see them."""
    import apache_beam as beam
    import tensorflow as tf

    def corrupt(path="/tmp/_failures_corrupt.tfrecord"):
        with open(path, "wb") as f:
            f.write(b"\x10" + b"\0" * 7 + b"garbage-crc" + b"x" * 32)
        for _ in tf.data.TFRecordDataset([path]):
            pass

    assert kind(raised(corrupt)) == failures.PERMANENT

    def sparse_to_dense(_):
        sparse = tf.sparse.SparseTensor([[0, 0]], tf.constant([1], tf.int64), [1, 1])
        return [tf.sparse.to_dense(sparse, default_value="")]

    def out_of_bounds(_):
        sparse = tf.sparse.SparseTensor([[0, 3]], tf.constant([1.0]), [1, 1])
        return [tf.sparse.to_dense(sparse)]

    for fn in (sparse_to_dense, out_of_bounds):

        def run(fn=fn):
            with beam.Pipeline() as p:
                _ = p | beam.Create([1]) | beam.FlatMap(fn)

        error = raised(run)
        verdict = failures.classify(error)
        assert verdict.kind == failures.PERMANENT, (fn.__name__, verdict, repr(error))

    assert kind(tf.errors.ResourceExhaustedError(None, None, "OOM")) == failures.TRANSIENT
    from components.data_validator.executor import DataValidationError

    assert kind(DataValidationError("data validation failed for x: ...")) == failures.PERMANENT


def test_the_classification_imports_only_the_standard_library():
    """Both environments import core/failures.py: the node runner and the DAG's node client."""
    import subprocess as sp
    import sys

    code = (
        "import sys; before = set(sys.modules); import core.failures; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}"
        " - set(sys.stdlib_module_names) - {'core'}))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = sp.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_ml_metadata_on_a_restarted_postgres_is_transient(tmp_path):
    """A real ML Metadata store on a throwaway PostgreSQL server (stack/postgres.py, Debian's
    binaries): what the store raises once the server has restarted under it is transient,
    also behind a permanent wrapper (a ValueError raised while handling it), so the node is
    retried, not failed at once. tests/airflow/test_production.py restarts the stack's
    PostgreSQL during Transform."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from stack.native import free_port
    from stack.postgres import Postgres

    pg = Postgres(tmp_path, free_port())
    try:
        pg.start()
        pg.create_database("mlmd", "mlmd", "a-password")
        config = metadata_store_pb2.ConnectionConfig()
        db = config.postgresql
        db.host, db.port, db.user, db.password, db.dbname = (
            "127.0.0.1",
            str(pg.port),
            "mlmd",
            "a-password",
            "mlmd",
        )
        store = metadata_store.MetadataStore(config)
        type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name="node"))
        pg.restart()
        with pytest.raises(Exception) as lost:
            store.put_executions([metadata_store_pb2.Execution(type_id=type_id)])
    finally:
        pg.remove()
    verdict = failures.classify(lost.value)
    assert verdict.kind == failures.TRANSIENT and "StatusError" not in verdict.line, verdict
    assert "metadata source error" in verdict.line, verdict
    try:
        raise ValueError("could not publish the node's outputs") from lost.value
    except ValueError as wrapped:
        assert failures.classify(wrapped).kind == failures.TRANSIENT, failures.classify(wrapped)
