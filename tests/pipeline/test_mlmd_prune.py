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


class Writer:
    """Writes runs as TFX shapes them: a pipeline context, a node context, each run's
    `pipeline_run` context (its parent the pipeline's), an execution-cache context per
    execution, OUTPUT and INPUT events with paths, custom properties. `ids` names them all."""

    def __init__(self, store):
        from ml_metadata.proto import metadata_store_pb2 as pb

        self.store, self.pb = store, pb
        types = ("pipeline_run", "node", "cache", "pipeline")
        self.run_t, self.node_t, self.cache_t, pipe_t = (
            store.put_context_type(pb.ContextType(name=n)) for n in types
        )
        self.art_t = store.put_artifact_type(pb.ArtifactType(name="Model"))
        self.exe_t = store.put_execution_type(pb.ExecutionType(name="Node"))
        self.ids = {"pipeline": self.context(pipe_t, "retrain")}
        self.ids["node"] = self.context(self.node_t, "retrain.Trainer")

    def context(self, type_id, name):
        c = self.pb.Context(type_id=type_id, name=name)
        c.custom_properties["note"].string_value = name
        return self.store.put_contexts([c])[0]

    def run(self, name):
        self.ids[name] = self.context(self.run_t, name)
        parent = self.pb.ParentContext(child_id=self.ids[name], parent_id=self.ids["pipeline"])
        self.store.put_parent_contexts([parent])

    def artifact(self, name):
        a = self.pb.Artifact(type_id=self.art_t, uri=f"/root/{name}", state=self.pb.Artifact.LIVE)
        a.custom_properties["name"].string_value = name
        self.ids[name] = self.store.put_artifacts([a])[0]

    def execution(self, name, run, outputs=(), inputs=()):
        pb, ids = self.pb, self.ids
        e = pb.Execution(type_id=self.exe_t, name=name, last_known_state=pb.Execution.COMPLETE)
        e.custom_properties["state"].string_value = "complete"
        events = []
        for kind, names in ((pb.Event.OUTPUT, outputs), (pb.Event.INPUT, inputs)):
            for n in names:
                ev = pb.Event(artifact_id=ids[n], type=kind)
                ev.path.steps.add().key = n
                ev.path.steps.add().index = 0
                events.append(ev)
        ids[f"cache-{name}"] = self.context(self.cache_t, f"cache-{name}")
        contexts = (ids[run], ids["node"], ids[f"cache-{name}"])
        [ids[name]] = self.store.put_execution(
            e,
            [(self.store.get_artifacts_by_id([ev.artifact_id])[0], ev) for ev in events],
            [self.store.get_contexts_by_id([c])[0] for c in contexts],
            reuse_context_if_already_exist=True,
        )[:1]


def build(store) -> Writer:
    """Two runs: 'old' (removed by keep_runs 1) and 'new' (kept). In 'old': `train` wrote the
    model K that 'new' reads and a log X; `stats` wrote Y only; `eval` read K (an input only)."""
    w = Writer(store)
    for run in ("old", "new"):
        w.run(run)
    for name in ("K", "X", "Y"):
        w.artifact(name)
    w.execution("train", "old", outputs=("K", "X"))
    w.execution("stats", "old", outputs=("Y",))
    w.execution("eval", "old", inputs=("K",))
    w.execution("serve", "new", inputs=("K",))
    attribution = w.pb.Attribution(context_id=w.ids["old"], artifact_id=w.ids["Y"])
    store.put_attributions_and_associations([attribution], [])
    return w


def retention_pass(config, store) -> dict:
    """retention.apply's ML Metadata part with keep_runs 1: plan, select, prune; the counts."""
    found = retention.plan(store, 1, {})
    doomed = mlmd_prune.select(
        store, found["contexts"], found["executions"], set(found["artifacts"])
    )
    return found, doomed, mlmd_prune.prune(config, dict(doomed))


def test_the_removed_run_s_records_go_and_what_is_kept_still_reads(config):
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = _store(config)
    ids = build(store).ids
    found, doomed, counts = retention_pass(config, store)
    assert list(found["keep"]) == ["new"] and found["remove"] == ["old"], found
    assert set(found["artifacts"]) == {ids["X"], ids["Y"]}  # K: the kept run reads it
    # `train` produced K, which stays: it stays with both its outputs (X marked, not deleted),
    # and so does its run's context, for the next retention to find it again.
    assert doomed == {
        "contexts": [],
        "executions": sorted([ids["stats"], ids["eval"]]),
        "artifacts": [ids["Y"]],
    }
    # the two emptied execution-cache contexts go
    assert counts == {"contexts": 2, "executions": 2, "artifacts": 1}, counts

    store = _store(config)
    contexts = {c.name for c in store.get_contexts()}
    assert contexts == {"retrain", "retrain.Trainer", "old", "new", "cache-train", "cache-serve"}
    assert {e.name for e in store.get_executions()} == {"train", "serve"}
    assert {a.uri for a in store.get_artifacts()} == {"/root/K", "/root/X"}
    # TFX's cache reads `train`'s outputs by its OUTPUT events, with their paths: both there.
    events = store.get_events_by_execution_ids([ids["train"]])
    assert sorted(e.path.steps[0].key for e in events if e.type == pb.Event.OUTPUT) == ["K", "X"]
    # the kept run reads as before; the node context lost only the deleted executions
    new = store.get_context_by_type_and_name("pipeline_run", "new")
    [serve] = store.get_executions_by_context(new.id)
    assert serve.custom_properties["state"].string_value == "complete"
    node = store.get_context_by_type_and_name("node", "retrain.Trainer")
    assert {e.name for e in store.get_executions_by_context(node.id)} == {"train", "serve"}
    [k] = store.get_artifacts_by_uri("/root/K")
    assert k.custom_properties["name"].string_value == "K"
    assert store.get_parent_contexts_by_context(new.id)[0].name == "retrain"


def test_a_producer_kept_for_its_output_goes_once_nothing_kept_reads_it(config):
    """Weekly runs: the run after 'new' reads nothing of theirs, so the next retention deletes
    what the first kept for 'new' (`train`, K, X, the run 'old'), and a third finds nothing."""
    store = _store(config)
    w = build(store)
    retention_pass(config, store)
    store = _store(config)
    w.store = store
    w.run("newer")
    w.artifact("Z")
    w.execution("report", "newer", outputs=("Z",))
    found, doomed, counts = retention_pass(config, store)
    assert list(found["keep"]) == ["newer"] and sorted(found["remove"]) == ["new", "old"]
    assert counts == {"contexts": 4, "executions": 2, "artifacts": 2}, counts  # + 2 caches

    store = _store(config)
    contexts = {c.name for c in store.get_contexts()}
    assert contexts == {"retrain", "retrain.Trainer", "newer", "cache-report"}
    assert {e.name for e in store.get_executions()} == {"report"}
    assert {a.uri for a in store.get_artifacts()} == {"/root/Z"}
    again = retention.plan(store, 1, {})
    assert again["remove"] == [] and again["contexts"] == {}
