"""A PostgreSQL table or query as the run's data: `postgresql://USER@HOST:PORT/DB?table=NAME`
or `...?query=SELECT...` (URL-encoded). Standard library only but for psycopg2, imported on
first use (the DAG's Params check and the snapshot both use this module).

- The URI never holds a password (one that does is refused, and never echoed): the password
  comes from an Airflow Connection (the DAG's `postgres_conn_id`), and reaches the process that
  reads the table in its environment only (PASSWORD_ENV).
- The trust boundary: `allowed_roots` may list URI prefixes (`postgresql://etl@db:5432/sales`);
  `within` says whether a source lies under one (user, host, port, database and, when the
  prefix names one, table: each part compared whole, never as a text prefix).
- `connect` and `probe` turn what the server says into one line each: a wrong password, an
  unreachable host, a missing database, table or column, a query that fails.

core/pg_snapshot.py reads a source into a folder of Parquet files keyed by what it read.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
PASSWORD_ENV = "RETRAIN_PG_PASSWORD"  # the snapshot process's password, from the Connection
CONNECT_TIMEOUT_S = 10


class SourceError(ValueError):
    """A PostgreSQL source that cannot be used; the message is one line that names it."""


def is_source(data) -> bool:
    """Whether `data` names a PostgreSQL source (else it is a folder)."""
    return isinstance(data, str) and data.split("://", 1)[0].lower() in SCHEMES and "://" in data


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed `postgresql://` source (or, with neither table nor query, an allowed root)."""

    user: str
    host: str
    port: int
    dbname: str
    table: str = ""
    query: str = ""

    @property
    def uri(self) -> str:
        """The source as a URI, in one canonical form (no password: there is none)."""
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        out = f"postgresql://{user}{self.host}:{self.port}"
        out += f"/{quote(self.dbname, safe='')}" if self.dbname else ""
        if self.table:
            out += f"?table={quote(self.table, safe='.')}"
        elif self.query:
            out += f"?query={quote(self.query, safe='')}"
        return out

    @property
    def where(self) -> str:
        """What a message calls it: the table, or `a query`, in database DB at HOST:PORT."""
        what = f"table {self.table!r}" if self.table else "the query"
        return f"{what} of database {self.dbname!r} at {self.host}:{self.port}"

    def relation(self):
        """The table as psycopg2 SQL (schema.table, each part quoted)."""
        from psycopg2 import sql

        return sql.Identifier(*self.table.split(".", 1))

    def select(self):
        """The statement that reads the source, as psycopg2 SQL: a query runs as a subquery,
        so it can only be one SELECT (in a READ ONLY transaction besides)."""
        from psycopg2 import sql

        if self.table:
            return sql.SQL("SELECT * FROM {}").format(self.relation())
        return sql.SQL("SELECT * FROM ({}) AS source").format(sql.SQL(self.query))

    def model_name(self) -> str:
        """A registered model name from the table's name (the database's for a query)."""
        name = self.table.rpartition(".")[2] if self.table else self.dbname
        return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "model"


def parse(uri: str, *, root: bool = False) -> Source:
    """The Source of `uri`; SourceError names what is wrong. `root`: an allowed root, which may
    stop at the host or the database and need not name a table or query."""
    parts = urlsplit(str(uri).strip())
    shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    if parts.scheme.lower() not in SCHEMES:
        raise SourceError(f"{uri!r} is not a postgresql:// URI")
    if parts.password is not None:
        raise SourceError(
            f"{shown}: a password in the URI is refused (it would be logged); the password "
            "comes from the Airflow Connection named by postgres_conn_id"
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise SourceError(f"{shown}: the port is not a number") from None
    if not parts.hostname:
        raise SourceError(f"{uri}: no host (postgresql://USER@HOST:PORT/DB?table=NAME)")
    dbname = unquote(parts.path.lstrip("/"))
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"table", "query"})
    if unknown:
        raise SourceError(f"{shown}: unknown URI parameter(s) {unknown}; use table= or query=")
    table, select = (query.get(k, [""])[-1].strip() for k in ("table", "query"))
    if table and not re.fullmatch(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?", table):
        raise SourceError(f"{shown}: table {table!r} is not a [schema.]name")
    user = unquote(parts.username or "")
    if root:
        return Source(user, parts.hostname, port, dbname, table, select)
    if not user or not dbname:
        raise SourceError(f"{uri}: name the user and the database (postgresql://USER@HOST/DB)")
    if bool(table) == bool(select):
        raise SourceError(f"{uri}: give exactly one of ?table=NAME and ?query=SELECT...")
    return Source(user, parts.hostname, port, dbname, table, select)


def within(source: Source, root: str) -> bool:
    """Whether `source` lies under the allowed root `root` (a URI prefix): the same host and
    port, and the same user, database and table where the root names them."""
    try:
        prefix = parse(root, root=True)
    except SourceError:
        return False
    if (prefix.host.lower(), prefix.port) != (source.host.lower(), source.port):
        return False
    if prefix.user and prefix.user != source.user:
        return False
    if prefix.dbname and prefix.dbname != source.dbname:
        return False
    if prefix.query:
        return False  # a root names a table at most
    return not prefix.table or prefix.table == source.table


def outside(uri: str, roots) -> str | None:
    """One line when `uri` is not a usable source under one of the URI `roots` (None: fine)."""
    try:
        source = parse(uri)
    except SourceError as e:
        return f"param data: {e}"
    allowed = [r for r in roots if is_source(str(r))]
    if any(within(source, r) for r in allowed):
        return None
    return (
        f"param data: {source.uri} is outside the allowed roots "
        f"({', '.join(allowed) or 'no postgresql:// root'}); an operator adds a URI prefix such "
        "as postgresql://USER@HOST:PORT/DB in allowed_roots"
    )


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "pgerror", None) or e).strip()
    return text.splitlines()[0].removeprefix("ERROR:").strip() if text else type(e).__name__


def connect(source: Source, password: str | None):
    """A psycopg2 connection to the source's database; SourceError in one line when the
    server cannot be reached, refuses the password or has no such database."""
    import psycopg2

    try:
        return psycopg2.connect(
            host=source.host,
            port=source.port,
            user=source.user,
            dbname=source.dbname,
            password=password or None,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="retrain-data",
        )
    except psycopg2.OperationalError as e:
        raise SourceError(_connect_line(source, _all_lines(e))) from None


def _all_lines(e: BaseException) -> str:
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip())


def _connect_line(source: Source, text: str) -> str:
    at = f"PostgreSQL at {source.host}:{source.port}"
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f"{at} refused the password of user {source.user!r} (check the password of the "
            "Airflow Connection named by postgres_conn_id)"
        )
    if f'database "{source.dbname}" does not exist' in text:
        return f"{at} has no database {source.dbname!r}"
    if f'role "{source.user}" does not exist' in text:
        return f"{at} has no user {source.user!r}"
    unreachable = ("could not connect", "Connection refused", "could not translate host")
    if any(w in text for w in unreachable) or "timeout expired" in text:
        return f"cannot reach {at}: {text[:200]}"
    return f"cannot connect to {source.uri}: {text[:200]}"


def tables(conn) -> list[str]:
    """The database's tables and views (schema.name, but for public's), sorted."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        return sorted(n if s == "public" else f"{s}.{n}" for s, n in cur.fetchall())


def read_error(source: Source, conn, e: BaseException) -> SourceError:
    """The one line for a statement on `source` that failed with `e` (`conn` is rolled back
    here): a missing table names the tables there are."""
    import psycopg2

    conn.rollback()
    if isinstance(e, psycopg2.errors.UndefinedTable) and source.table:
        there = ", ".join(tables(conn)[:20]) or "none"
        return SourceError(f"{source.where} does not exist (tables: {there})")
    return SourceError(f"{source.where} cannot be read: {_first_line(e)}")


def probe(source: Source, password: str | None) -> list[str]:
    """The source's column names, read without reading its rows; SourceError in one line when
    it cannot be read (connect's failures, a missing table, a query that fails)."""
    import psycopg2
    from psycopg2 import sql

    conn = connect(source, password)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("SELECT * FROM ({}) AS probe LIMIT 0").format(source.select()))
            except psycopg2.Error as e:
                raise read_error(source, conn, e) from None
            return [d.name for d in cur.description]
    finally:
        conn.close()
