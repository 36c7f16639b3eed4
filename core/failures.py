"""Which failures of a pipeline node can heal by themselves, and which cannot: the one place
that decides whether a failed node is retried. Standard library only, so the node runner (TFX
environment) and the DAG (Airflow environment) both import it.

- permanent: running the node again gives the same failure. Data (a corrupt TFRecord, a data
  validation rejection), schema, settings and configuration, the user module (a type error in
  Transform, a syntax or import error), a TensorFlow InvalidArgumentError or DataLossError.
  The node fails at once, with one readable line, and is not retried.
- transient: the world around the node failed. A lost connection (MLflow, the metadata
  database), a timeout, an HTTP 5xx or 429 from a server, a database OperationalError, out of
  memory, a killed process, the node's lock held by another launch. Airflow retries the node.

How: the failure and every exception behind it (`__cause__`, `__context__`) are looked at by
type first (the class and its bases, by name, so that no TensorFlow, MLflow or database driver
is imported here): any transient type in the chain makes the failure transient (a ValueError
raised while handling a lost connection is still a lost connection); otherwise any permanent
type makes it permanent. Wrappers hide types (Beam re-raises a worker's error as a RuntimeError
whose text starts "TypeError: ...", MLflow reports failed uploads as text), so the messages are
read next, transient words first. A failure nothing recognises is transient: a retry is the
safe default for what we do not know.
"""

from __future__ import annotations

import dataclasses
import errno
import re

PERMANENT = "permanent"
TRANSIENT = "transient"

# The node runner's exit statuses (pipelines/run_node.py), and what each means to the DAG.
EXIT_OK = 0
EXIT_FAILED = 1  # failed, transient (or not classified): retried
EXIT_USAGE = 2  # bad arguments or settings: permanent
EXIT_BUSY = 3  # the same node of the same run is being launched elsewhere: transient
EXIT_PERMANENT = 4  # the node failed and a retry cannot help: permanent
PERMANENT_STATUSES = frozenset({EXIT_USAGE, EXIT_PERMANENT})
# The line the node runner prints last when a node fails: `RETRAIN ERROR <kind>: <line>`.
MARK = "RETRAIN ERROR "

# Exception class names (the class or any base), whatever their module. Names shared by
# TensorFlow's and ML Metadata's errors (InvalidArgumentError, ...) mean the same in both.
TRANSIENT_TYPES = frozenset(
    {
        "ConnectionError",  # builtin (refused, reset, aborted, broken pipe) and requests'
        "TimeoutError",  # builtin and socket.timeout
        "Timeout",  # requests
        "MaxRetryError",  # urllib3
        "NewConnectionError",
        "ProtocolError",
        "ReadTimeoutError",
        "ChunkedEncodingError",
        "RemoteDisconnected",
        "IncompleteRead",
        "OperationalError",  # sqlite3, SQLAlchemy, MySQL drivers
        "InterfaceError",
        "MemoryError",
        "ResourceExhaustedError",  # TensorFlow: out of memory
        "UnavailableError",
        "DeadlineExceededError",
        "AbortedError",
        "TimeoutExpired",  # subprocess
        "BrokenProcessPool",
        "NodeBusy",  # pipelines/run_node.py: the node's lock is held
    }
)
PERMANENT_TYPES = frozenset(
    {
        "TypeError",
        "ValueError",  # includes UnicodeError, JSONDecodeError, TFRecordError, DatasetError
        "LookupError",  # KeyError, IndexError
        "AttributeError",
        "NameError",
        "ImportError",  # a user module that does not import
        "SyntaxError",
        "NotImplementedError",
        "AssertionError",
        "ArithmeticError",
        "RecursionError",
        "EOFError",  # a truncated gzip file
        "FileNotFoundError",
        "IsADirectoryError",
        "NotADirectoryError",
        "PermissionError",
        "BadGzipFile",
        "DecodeError",  # protobuf
        "ParseError",
        "UnpicklingError",
        "InvalidArgumentError",  # TensorFlow, ML Metadata
        "DataLossError",
        "NotFoundError",
        "FailedPreconditionError",
        "UnimplementedError",
        "PermissionDeniedError",
        "UnauthenticatedError",
        "TypeCheckError",  # Beam
        "DataValidationError",  # components/data_validator: the data was rejected
        "LeaderboardError",  # a promote_trial or warm start that names nothing
        # nas/search.py: no trial finished. A retry resumes the search, whose failed trials
        # stay failed, and fails the same way; the trial messages above say why each failed.
        "SearchFailed",
        "ExplainError",
        "EdgeExportError",
    }
)
# Modules whose exception class is called `error` (zlib.error: a corrupt gzip stream).
DATA_ERROR_MODULES = frozenset({"zlib", "struct", "re"})
# Exception names read in a wrapper's text (Beam: "TypeError: ..."): the permanent types and
# common subclasses of them.
PERMANENT_TEXT_NAMES = PERMANENT_TYPES | {
    "KeyError",
    "IndexError",
    "ModuleNotFoundError",
    "ZeroDivisionError",
    "UnicodeDecodeError",
    "JSONDecodeError",
    "TFRecordError",
    "DatasetError",
    "TaskError",
    "SchemaError",
}
TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ENOMEM,
        errno.ENOSPC,
        errno.EIO,
    }
)
# MLflow's error codes (MlflowException.error_code). INTERNAL_ERROR is also the code of any
# client-side MlflowException, so it says transient only from the server (RestException).
MLFLOW_PERMANENT_CODES = frozenset(
    {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST", "ENDPOINT_NOT_FOUND"}
)
MLFLOW_TRANSIENT_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"}
)
GRPC_TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})
# A metadata database that went away or is restarting, as ML Metadata reports it: an
# InternalError whose text is the server's (seen with PostgreSQL restarted under a store:
# "PostgreSQL metadata source error: FATAL: terminating connection due to administrator
# command", then "PostgreSQL metadata source error: " on every call over the dead connection).
# Transient by type, so that a permanent error raised while handling it (a wrapper's
# ValueError, say) does not make the node fail at once. Any "metadata source error" is retried:
# the text does not tell a lost server from a failed statement, and a retry is the safe side.
DATABASE_LOST = re.compile(
    r"metadata source error|server closed the connection|terminating connection"
    r"|could not connect to server|connection to server .* failed|Connection refused"
    r"|the database system is (?:starting up|shutting down|in recovery mode)"
    r"|MySQL server has gone away|Lost connection to MySQL",
    re.IGNORECASE,
)

TRANSIENT_TEXT = re.compile(
    r"Connection refused|Connection reset|Connection aborted|Broken pipe|Max retries exceeded"
    r"|Failed to establish a new connection|Temporary failure in name resolution|timed out"
    r"|\b(?:ConnectionError|TimeoutError|OperationalError|MemoryError|ResourceExhaustedError"
    r"|UnavailableError|DeadlineExceededError)\b|database is locked|OOM when allocating"
    r"|out of memory|Cannot allocate memory|No space left on device|error code 5\d\d"
    r"|too many 5\d\d error responses|\b5\d\d Server Error|Service Unavailable|Bad Gateway"
    r"|Gateway Time-?out|\bkilled by signal\b|\bSIGKILL\b",
    re.IGNORECASE,
)
# A line as Python prints an exception: `[module.]Name: message`.
EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w]*\.)*(?P<name>[A-Za-z_]\w*)(?::|$)\s*(?P<msg>.*)")
# Data and configuration errors that arrive as text (Beam's wrappers) or as a bare RuntimeError
# (TFX's ExampleGen: no file matches the split pattern; files with different headers; a user
# module's run_fn that saved no model).
PERMANENT_TEXT = re.compile(
    r"incorrect header check|Not a gzipped file|corrupted record|Not a valid TFRecord"
    r"|truncated record|is not a tf\.Example|data validation failed|DATA ANOMALY|\bzlib\.error\b"
    r"|does not match any files|have different header|run_fn failed to generate model",
    re.IGNORECASE,
)
MAX_LINE = 1000


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A failure, classified: `kind` (PERMANENT or TRANSIENT), `reason` (why, in words) and
    `line` (the failure in one readable line, for the log and the Airflow task)."""

    kind: str
    reason: str
    line: str

    @property
    def permanent(self) -> bool:
        return self.kind == PERMANENT


def chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions behind it, outermost first, each once: its `__cause__` and its
    `__context__` (unless `raise ... from None` hid it: the raiser said the context is not
    the story)."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(out) < 50:
        e = todo.pop(0)
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        todo.append(e.__cause__)
        if not e.__suppress_context__:
            todo.append(e.__context__)
    return out


def _names(e: BaseException) -> list[str]:
    return [c.__name__ for c in type(e).__mro__]


def _status(e: BaseException) -> int | None:
    """An HTTP status carried by the exception (requests, urllib, MLflow's RestException)."""
    response = getattr(e, "response", None)
    for value in (getattr(e, "status_code", None), getattr(response, "status_code", None)):
        if isinstance(value, int):
            return value
    code = getattr(e, "code", None)
    return code if isinstance(code, int) and 100 <= code < 600 else None


def by_type(e: BaseException) -> str | None:
    """PERMANENT, TRANSIENT, or None (the type alone does not say) for one exception."""
    names = _names(e)
    if "MlflowException" in names:
        code = getattr(e, "error_code", "")
        if code in MLFLOW_PERMANENT_CODES:
            return PERMANENT
        server_error = "RestException" in names and code == "INTERNAL_ERROR"
        if code in MLFLOW_TRANSIENT_CODES or server_error:
            return TRANSIENT
        return None  # the text decides (a lost connection is in the message and the chain)
    status = _status(e)
    if status is not None and "HTTPError" in names:
        return TRANSIENT if status >= 500 or status in (408, 429) else PERMANENT
    grpc_code = getattr(e, "code", None)
    if "RpcError" in names and callable(grpc_code):
        try:
            name = getattr(grpc_code(), "name", "")
        except Exception:  # noqa: BLE001 (an RpcError without a status)
            name = ""
        return TRANSIENT if name in GRPC_TRANSIENT_CODES else (PERMANENT if name else None)
    if "CalledProcessError" in names:
        return TRANSIENT if (getattr(e, "returncode", 0) or 0) < 0 else None
    if "StatusError" in names and DATABASE_LOST.search(str(e)):  # ML Metadata's errors' base
        return TRANSIENT
    if any(n in TRANSIENT_TYPES for n in names):
        return TRANSIENT
    if isinstance(e, OSError) and e.errno in TRANSIENT_ERRNOS:
        return TRANSIENT
    if any(n in PERMANENT_TYPES for n in names):
        return PERMANENT
    if any(c.__name__ == "error" and c.__module__ in DATA_ERROR_MODULES for c in type(e).__mro__):
        return PERMANENT
    return None


def _lines(e: BaseException) -> list[str]:
    return [ln.strip() for ln in str(e).splitlines() if ln.strip()]


def describe(e: BaseException) -> str:
    """`Type: message` in one line. For a message that holds a traceback (a wrapper's), its
    last exception line; otherwise the message's first line."""
    lines = _lines(e)
    if not lines:
        return type(e).__name__
    text = lines[0]
    if len(lines) > 1 and text.endswith("Traceback (most recent call last):"):
        found = [ln for ln in lines[1:] if _is_exception_line(ln)]
        text = found[-1] if found else text
    line = f"{type(e).__name__}: {text}"
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _is_exception_line(line: str) -> bool:
    m = EXCEPTION_LINE.match(line)
    return bool(m and m.group("msg") and re.search(r"(Error|Exception|error)$", m.group("name")))


def _text_verdict(exceptions: list[BaseException]) -> tuple[str, str] | None:
    """(kind, the matching line) from the messages, transient words first."""
    lines = [ln for e in exceptions for ln in _lines(e)]
    for ln in lines:
        if TRANSIENT_TEXT.search(ln):
            return TRANSIENT, ln
    for ln in lines:
        if PERMANENT_TEXT.search(ln):
            return PERMANENT, ln
        m = EXCEPTION_LINE.match(ln)
        if m and _is_exception_line(ln) and m.group("name") in PERMANENT_TEXT_NAMES:
            return PERMANENT, ln
    return None


def classify(exc: BaseException) -> Verdict:
    """The verdict on a node's failure `exc` (see the module's docstring for the rules)."""
    exceptions = chain(exc)
    outer = next((e for e in exceptions if _lines(e)), exc)
    line = describe(outer)
    verdicts = [(by_type(e), e) for e in exceptions]
    for kind in (TRANSIENT, PERMANENT):
        found = next((e for k, e in verdicts if k == kind), None)
        if found is not None:
            what = type(found).__name__
            where = "" if found is exc else f" (behind {type(exc).__name__})"
            return Verdict(kind, f"{what}{where} is {kind}", line)
    text = _text_verdict(exceptions)
    if text is not None:
        kind, matched = text
        return Verdict(kind, f"the error's text says {kind}: {matched[:200]}", line)
    return Verdict(TRANSIENT, f"{type(exc).__name__} is not known: retried by default", line)


def status_is_permanent(status: int) -> bool:
    """Whether the node runner's exit status means a failure a retry cannot heal."""
    return status in PERMANENT_STATUSES
