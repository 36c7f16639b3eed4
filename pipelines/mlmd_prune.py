"""ML Metadata records of removed runs: the one module that deletes rows of MLMD's tables.

ML Metadata 1.16's API can mark an artifact DELETED but has no call that deletes an artifact,
an execution or a context, so a store that retention keeps marking grows by every run's records
(about 0.04 MB a run on SQLite, measured by bench/season/long). `prune` deletes them with SQL,
on SQLite and on PostgreSQL (MLMD's own schema, version 10: the same table and column names on
both; PostgreSQL folds the unquoted names as MLMD created them), in one transaction:

- the removed runs' `pipeline_run` contexts (a run's stays while one of its executions does);
- their executions, except one that produced (an OUTPUT event) an artifact that is not going:
  TFX's cache reads an execution's outputs from its OUTPUT events, and an execution with one of
  its outputs missing would look like a complete cached result; such an execution keeps all its
  output records (marked DELETED, so the cache skips it);
- the artifacts that retention removed (`doomed`) whose every producer goes;
- the events, event paths, properties, associations and attributions of all of these, and any
  other context (a node's execution-cache context) left with no execution.

Types, the pipeline's and nodes' contexts, and everything a kept run reaches stay. On SQLite the
file is then checkpointed and vacuumed, so it shrinks rather than only reusing its free pages.
"""

from __future__ import annotations

import sqlite3

CHUNK = 500  # ids per statement: under SQLite's and PostgreSQL's parameter limits


def select(store, contexts: dict[int, set[int]], executions: set[int], doomed: set[int]) -> dict:
    """What goes, read through ML Metadata's API: {"contexts", "executions", "artifacts"}.
    `contexts`: each removed run's context id and its executions. A run's context stays while
    one of its executions does, so the next retention finds that execution again (in the run
    it plans to remove) and deletes it once nothing kept needs its outputs."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    outputs = (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT)
    by_execution = store.get_events_by_execution_ids(sorted(executions)) if executions else []
    producers = {
        e.execution_id for e in by_execution if e.type in outputs and e.artifact_id not in doomed
    }
    gone = set(executions) - producers
    by_artifact = store.get_events_by_artifact_ids(sorted(doomed)) if doomed else []
    held = {e.artifact_id for e in by_artifact if e.type in outputs and e.execution_id not in gone}
    return {
        "contexts": sorted(c for c, ran in contexts.items() if not set(ran) & producers),
        "executions": sorted(gone),
        "artifacts": sorted(set(doomed) - held),
    }


def _chunks(ids):
    ids = sorted(ids)
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


class _Sql:
    """A DB-API cursor with the backend's placeholder."""

    def __init__(self, cursor, mark: str):
        self.cursor, self.mark = cursor, mark

    def run(self, statement: str, ids) -> list:
        """`statement` with `{ids}` replaced by each chunk's placeholders; rows it returned."""
        rows = []
        for chunk in _chunks(ids):
            self.cursor.execute(
                statement.format(ids=", ".join([self.mark] * len(chunk))), tuple(chunk)
            )
            if self.cursor.description is not None:
                rows += self.cursor.fetchall()
        return rows


def _delete(sql: _Sql, doomed: dict) -> None:
    executions, artifacts = doomed["executions"], doomed["artifacts"]
    for column, ids in (("execution_id", executions), ("artifact_id", artifacts)):
        sql.run(
            f"DELETE FROM EventPath WHERE event_id IN "
            f"(SELECT id FROM Event WHERE {column} IN ({{ids}}))",
            ids,
        )
        sql.run(f"DELETE FROM Event WHERE {column} IN ({{ids}})", ids)
    touched = {
        r[0]
        for r in sql.run(
            "SELECT context_id FROM Association WHERE execution_id IN ({ids})", executions
        )
    }
    touched |= {
        r[0]
        for r in sql.run(
            "SELECT context_id FROM Attribution WHERE artifact_id IN ({ids})", artifacts
        )
    }
    sql.run("DELETE FROM Association WHERE execution_id IN ({ids})", executions)
    sql.run("DELETE FROM ExecutionProperty WHERE execution_id IN ({ids})", executions)
    sql.run("DELETE FROM Execution WHERE id IN ({ids})", executions)
    sql.run("DELETE FROM Attribution WHERE artifact_id IN ({ids})", artifacts)
    sql.run("DELETE FROM ArtifactProperty WHERE artifact_id IN ({ids})", artifacts)
    sql.run("DELETE FROM Artifact WHERE id IN ({ids})", artifacts)
    # A context whose last executions were deleted (an execution-cache context) goes too. TFX
    # attributes an execution's input artifacts to its contexts as well, so a context is empty
    # when no execution is left in it, whatever artifacts it still names.
    used = sql.run("SELECT context_id FROM Association WHERE context_id IN ({ids})", touched)
    used = {r[0] for r in used}
    contexts = set(doomed["contexts"]) | (touched - used)
    doomed["contexts"] = sorted(contexts)
    for statement in (
        "DELETE FROM Association WHERE context_id IN ({ids})",
        "DELETE FROM Attribution WHERE context_id IN ({ids})",
        "DELETE FROM ParentContext WHERE context_id IN ({ids})",
        "DELETE FROM ParentContext WHERE parent_context_id IN ({ids})",
        "DELETE FROM ContextProperty WHERE context_id IN ({ids})",
        "DELETE FROM Context WHERE id IN ({ids})",
    ):
        sql.run(statement, contexts)


def prune(config, doomed: dict) -> dict:
    """Deletes `doomed` (from `select`) from the store `config` names, in one transaction; the
    counts deleted. Contexts left empty by it are added to doomed["contexts"]."""
    kind = config.WhichOneof("config")
    if kind == "sqlite":
        path = config.sqlite.filename_uri
        db = sqlite3.connect(path, timeout=60)
        try:
            with db:
                _delete(_Sql(db.cursor(), "?"), doomed)
            try:  # give the pages back; a live run holding the file only postpones it
                db.execute("PRAGMA busy_timeout = 5000")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.execute("VACUUM")
            except sqlite3.OperationalError:
                pass
        finally:
            db.close()
    elif kind == "postgresql":
        import psycopg2

        pg = config.postgresql
        db = psycopg2.connect(
            host=pg.host,
            port=pg.port or None,
            user=pg.user,
            dbname=pg.dbname,
            password=pg.password or None,
            passfile=pg.passfile or None,
        )
        try:
            with db, db.cursor() as cursor:
                _delete(_Sql(cursor, "%s"), doomed)
        finally:
            db.close()
    else:
        raise ValueError(f"ML Metadata store of kind {kind!r}: only SQLite and PostgreSQL")
    return {k: len(doomed[k]) for k in ("contexts", "executions", "artifacts")}
