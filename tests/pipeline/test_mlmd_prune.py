"""Retention deletes the ML Metadata records of removed runs (pipelines/mlmd_prune.py), on the
SQLite file and on a real PostgreSQL server, and keeps what a kept run or TFX's cache reads.

The store is written through ML Metadata's own API, shaped as TFX writes it: a pipeline context,
a node context, each run's `pipeline_run` context (its parent the pipeline's), an execution-cache
context per execution, OUTPUT and INPUT events with paths, artifact and execution properties."""

from __future__ import annotations

import pytest

from pipelines import mlmd_prune, retention
from tests import pg_server


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request, tmp_path):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipelines import mlmd_postgres

    config = pb.ConnectionConfig()
    if request.param == "sqlite":
        config.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        yield config
        return
    mlmd_postgres.install()
    with pg_server.server(tmp_path / "pg") as pg:
        p = config.postgresql
        p.host, p.port, p.user, p.dbname = "127.0.0.1", str(pg.port), pg_server.USER, pg_server.DB
        p.password = pg_server.PASSWORD
        yield config


def _store(config):
    from ml_metadata import metadata_store

    return metadata_store.MetadataStore(config)


def build(store) -> dict:
    """Two runs: 'old' (removed by keep_runs 1) and 'new' (kept). In 'old': `train` wrote the
    model K that 'new' reads and a log X; `stats` wrote Y only; `eval` read K (an input only)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    def ctype(name):
        return store.put_context_type(pb.ContextType(name=name))

    run_t, node_t, cache_t, pipe_t = map(ctype, ("pipeline_run", "node", "cache", "pipeline"))
    art_t = store.put_artifact_type(pb.ArtifactType(name="Model"))
    exe_t = store.put_execution_type(pb.ExecutionType(name="Node"))

    def context(type_id, name):
        c = pb.Context(type_id=type_id, name=name)
        c.custom_properties["note"].string_value = name
        return store.put_contexts([c])[0]

    pipeline, node = context(pipe_t, "retrain"), context(node_t, "retrain.Trainer")
    ids = {"pipeline": pipeline, "node": node}
    for run in ("old", "new"):
        ids[run] = context(run_t, run)
        store.put_parent_contexts([pb.ParentContext(child_id=ids[run], parent_id=pipeline)])
    for name in ("K", "X", "Y"):
        a = pb.Artifact(type_id=art_t, uri=f"/root/{name}", state=pb.Artifact.LIVE)
        a.custom_properties["name"].string_value = name
        ids[name] = store.put_artifacts([a])[0]

    def execution(name, run, outputs=(), inputs=()):
        e = pb.Execution(type_id=exe_t, name=name, last_known_state=pb.Execution.COMPLETE)
        e.custom_properties["state"].string_value = "complete"
        events = []
        for kind, names in ((pb.Event.OUTPUT, outputs), (pb.Event.INPUT, inputs)):
            for n in names:
                ev = pb.Event(artifact_id=ids[n], type=kind)
                ev.path.steps.add().key = n
                ev.path.steps.add().index = 0
                events.append(ev)
        cache = context(cache_t, f"cache-{name}")
        ids[f"cache-{name}"] = cache
        [ids[name]] = store.put_execution(
            e,
            [(store.get_artifacts_by_id([ev.artifact_id])[0], ev) for ev in events],
            [store.get_contexts_by_id([c])[0] for c in (ids[run], node, cache)],
            reuse_context_if_already_exist=True,
        )[:1]

    execution("train", "old", outputs=("K", "X"))
    execution("stats", "old", outputs=("Y",))
    execution("eval", "old", inputs=("K",))
    execution("serve", "new", inputs=("K",))
    store.put_attributions_and_associations(
        [pb.Attribution(context_id=ids["old"], artifact_id=ids["Y"])], []
    )
    return ids


def test_the_removed_run_s_records_go_and_what_is_kept_still_reads(config):
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = _store(config)
    ids = build(store)
    found = retention.plan(store, 1, {})
    assert list(found["keep"]) == ["new"] and found["remove"] == ["old"], found
    assert set(found["artifacts"]) == {ids["X"], ids["Y"]}  # K: the kept run reads it
    doomed = mlmd_prune.select(store, found["contexts"], found["executions"], {ids["X"], ids["Y"]})
    # `train` produced K, which stays: it stays with both its outputs (X marked, not deleted).
    assert doomed == {
        "contexts": [ids["old"]],
        "executions": sorted([ids["stats"], ids["eval"]]),
        "artifacts": [ids["Y"]],
    }
    del store
    counts = mlmd_prune.prune(config, doomed)
    # the two emptied execution-cache contexts go with the run's context
    assert counts == {"contexts": 3, "executions": 2, "artifacts": 1}, counts

    store = _store(config)
    contexts = {c.name for c in store.get_contexts()}
    assert contexts == {"retrain", "retrain.Trainer", "new", "cache-train", "cache-serve"}
    assert {e.name for e in store.get_executions()} == {"train", "serve"}
    assert {a.uri for a in store.get_artifacts()} == {"/root/K", "/root/X"}
    # TFX's cache reads `train`'s outputs by its OUTPUT events, with their paths: both there.
    events = store.get_events_by_execution_ids([ids["train"]])
    assert sorted(e.path.steps[0].key for e in events if e.type == pb.Event.OUTPUT) == ["K", "X"]
    # the kept run reads as before; the node context lost only the deleted executions
    [serve] = store.get_executions_by_context(
        store.get_context_by_type_and_name("pipeline_run", "new").id
    )
    assert serve.custom_properties["state"].string_value == "complete"
    node = store.get_context_by_type_and_name("node", "retrain.Trainer")
    assert {e.name for e in store.get_executions_by_context(node.id)} == {"train", "serve"}
    [k] = store.get_artifacts_by_uri("/root/K")
    assert k.custom_properties["name"].string_value == "K"
    assert (
        store.get_parent_contexts_by_context(
            store.get_context_by_type_and_name("pipeline_run", "new").id
        )[0].name
        == "retrain"
    )
    # and a second retention finds nothing more to delete
    again = retention.plan(store, 1, {})
    assert again["remove"] == [] and again["contexts"] == []
