"""The DAG pushes to a real `mlflow server` on a free loopback port: versions, aliases, the
champion gate, idempotent retries, and the pyfunc model on raw rows."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.airflow.conftest import (
    NAME,
    REPO,
    TFX_PYTHON,
    WEBHOOK_SECRET,
    dag_test,
    run_summary,
)
from tests.commands import dags_test, last_json


@pytest.fixture(scope="module")
def mlflow_server(registry_runs) -> str:
    return registry_runs["mlflow"]


@pytest.fixture(scope="module")
def registry(mlflow_server):
    from mlflow import MlflowClient

    return MlflowClient(mlflow_server, registry_uri=mlflow_server)


def versions(registry) -> list[int]:
    return sorted(int(v.version) for v in registry.search_model_versions(f"name = '{NAME}'"))


def aliases(registry) -> dict[str, str]:
    return {k: str(v) for k, v in registry.get_registered_model(NAME).aliases.items()}


@pytest.fixture(scope="module")
def runs(registry_runs, monkeypatch_module):
    """The shared runs (conftest.registry_runs); this module's further DAG runs use their
    MLflow server too."""
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", registry_runs["mlflow"])
    return registry_runs


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_two_passing_runs_make_versions_1_and_2_with_champion_on_2(runs, registry):
    assert versions(registry) == [1, 2]
    v2 = registry.get_model_version(NAME, "2")
    # The gate moved @champion because the warm run's model was at least as good on the same
    # test rows as version 1 (gate.champion is version 1's figure on them).
    assert v2.tags["gate.decision"] == "champion", v2.tags.get("gate.reason")
    assert aliases(registry) == {"champion": "2", "challenger": "2"}
    assert v2.tags["gate.champion"] and v2.tags["champion.from_version"] == "1"
    assert v2.tags["tfx_pipeline_run_id"] == runs[2]
    assert v2.tags["airflow_run_id"] == runs[2] and v2.tags["airflow_dag_id"] == "retrain"
    for tag in (
        "mlmd_model_artifact_id",
        "mlmd_model_uri",
        "data_fingerprint",
        "code_revision",
        "lock_hash",
        "mlmd_pusher_execution_id",
    ):
        assert v2.tags.get(tag), tag


def test_second_run_on_same_data_caches_the_data_nodes(runs):
    """The data nodes of the second run on the same data are CACHED. The validator runs again:
    it now compares the data with the previous span (the first run's)."""
    data_nodes = ["ExampleGen", "StatisticsGen", "SchemaGen", "Transform"]
    nodes = run_summary(runs[2], runs["state"] / "metadata.sqlite", runs["mlflow"])["nodes"]
    assert {n: nodes[n]["state"] for n in data_nodes} == dict.fromkeys(data_nodes, "CACHED")
    assert nodes["ExampleValidator"]["state"] == "COMPLETE"
    assert "previous span of" in runs["log2"], "the second run was not compared with the first"


def test_failed_gate_registers_nothing_and_moves_no_alias(runs, registry):
    log = runs["failed_log"]
    # The Pusher's one line, with the gate's reason.
    not_blessed = [
        ln for ln in log.splitlines() if "NOT BLESSED:" in ln and "Nothing registered" in ln
    ]
    assert not_blessed, log[-5000:]
    assert "accuracy 1.0000 misses the bar gate_min: at least 1.5" in not_blessed[0], not_blessed
    assert versions(registry) == [1, 2]
    assert aliases(registry) == {"champion": "2", "challenger": "2"}
    # People are told (dags/retrain_support/notify.py), and no model Asset event is emitted.
    [told] = [ln for ln in log.splitlines() if "RETRAIN NOTIFY not-blessed:" in ln]
    assert f"run {runs['failed']}: the new {NAME} model was NOT BLESSED (" in told, told
    assert "misses the bar gate_min" in told and "@champion unchanged" in told, told
    assert "not blessed: no new version" in log and "MODEL ASSET" not in log
    # ... and through the webhook, in Slack's format, the URL's secret never logged.
    [hook] = runs["webhook"]
    assert hook["type"] == "application/json" and hook["path"].endswith(WEBHOOK_SECRET), hook
    text = hook["body"]["text"]
    assert text.startswith(f"[retrain] not-blessed: retrain run {runs['failed']}: "), text
    assert text.split("not-blessed: ", 1)[1] in told, (text, told)
    assert "notified the webhook at http://127.0.0.1:" in log and WEBHOOK_SECRET not in log


def test_a_registered_version_updates_the_model_asset(runs):
    """A passing run's `announce` task updates the DAG's model Asset with the new version, and
    the task logs link to what a person looks at next."""
    for key, version in (("log1", 1), ("log2", 2)):
        line = f"MODEL ASSET mlflow-model://retrain/ updated: {NAME} version {version}"
        assert line in runs[key], runs[key][-3000:]
        # The task logs link to the search's MLflow run and to the registered version.
        assert f"NAS search in MLflow: {runs['mlflow']}/#/experiments/" in runs[key]
        page = f"{runs['mlflow']}/#/models/{NAME}/versions/{version}"
        assert f"REGISTERED {NAME} version {version} (" in runs[key] and page in runs[key]


# What a push killed after registering but before TFX published its result leaves behind: the
# version exists in MLflow and the Pusher's execution is FAILED in ML Metadata.
MARK_PUSH_FAILED = """
import sys
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
config = pb.ConnectionConfig()
config.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(config)
run = store.get_context_by_type_and_name("pipeline_run", sys.argv[2])
node = store.get_context_by_type_and_name("node", "retrain.Pusher")
in_run = {e.id for e in store.get_executions_by_context(run.id)}
[execution] = [e for e in store.get_executions_by_context(node.id) if e.id in in_run]
execution.last_known_state = pb.Execution.FAILED
store.put_executions([execution])
print(execution.id)
"""


def test_retried_push_keeps_one_version(runs, registry, mlflow_server):
    state = runs["state"]
    metadata = str(state / "metadata.sqlite")
    marked = subprocess.run(
        [TFX_PYTHON, "-c", MARK_PUSH_FAILED, metadata, runs[2]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert marked.returncode == 0, marked.stderr[-3000:]
    failed_execution = int(marked.stdout.strip().splitlines()[-1])
    settings = dict(
        runs["conf"],
        pipeline_root=str(state / "pipeline_root"),
        metadata_path=metadata,
        mlflow_tracking_uri=mlflow_server,
    )
    out = subprocess.run(
        [
            TFX_PYTHON,
            "-m",
            "pipelines.run_node",
            "--run-id",
            runs[2],
            "--node",
            "Pusher",
            "--settings",
            json.dumps(settings),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    assert result["state"] == "COMPLETE", result
    # the executor really ran again, and found the version instead of registering another
    assert "already registered" in out.stdout + out.stderr, failed_execution
    assert versions(registry) == [1, 2]
    assert aliases(registry) == {"champion": "2", "challenger": "2"}


def champion_check(module: str, mlflow_server: str) -> dict:
    """The JSON line `python -m tests.pipeline.<module>` prints about the champion, run in the
    TFX environment on the bundled penguins."""
    return last_json(
        [TFX_PYTHON, "-m", f"tests.pipeline.{module}", "--tracking-uri", mlflow_server]
        + ["--name", NAME, "--csv", REPO / "data" / "penguins" / "penguins.csv"],
        env=dict(os.environ, MLFLOW_TRACKING_URI=mlflow_server),
    )


def test_champion_loads_through_pyfunc_and_agrees_with_the_savedmodel(runs, mlflow_server):
    result = champion_check("check_pyfunc", mlflow_server)
    assert result["version"] == "2"
    assert result["pyfunc"] == result["savedmodel"]
    assert len(set(result["pyfunc"])) == 3, "expected all three species among the rows"


def test_the_validator_log_links_the_data_profile_in_mlflow(runs, registry, mlflow_server):
    import re

    links = re.findall(r"DATA PROFILE: (\S+)", runs["log2"])
    assert links and links[0].startswith(f"{mlflow_server}/#/experiments/"), links
    experiment = registry.get_experiment_by_name("retrain-data")
    (run,) = registry.search_runs(
        [experiment.experiment_id], f"tags.tfx_pipeline_run_id = '{runs[2]}'"
    )
    assert links[0].endswith(f"/runs/{run.info.run_id}/artifacts/profile.html")
    page = open(registry.download_artifacts(run.info.run_id, "profile.html")).read()
    assert "Accepted" in page and "previous: missing" in page  # run 1 is the previous span
    assert "<td>bill_length_mm</td>" in page and "data:image/png;base64," in page


def test_champion_run_logs_explanations_and_edge_models_that_agree(runs, registry, mlflow_server):
    """The pusher logged feature importance and TFLite files with the champion; both TFLite
    variants, downloaded from MLflow, pick the SavedModel's class on >= 99% of all rows."""
    champion = registry.get_model_version_by_alias(NAME, "champion")
    run = registry.get_run(champion.run_id)
    assert run.data.tags["explanations"] == "logged" and run.data.tags["edge"] == "logged"
    for variant in ("float", "dynamic_range"):
        assert run.data.metrics[f"edge_{variant}_agreement"] >= 0.99
        assert run.data.metrics[f"edge_{variant}_size_kb"] > 0
        assert run.data.metrics[f"edge_{variant}_latency_ms"] > 0
    # Smaller only when a weight tensor has 1,024 values, else the float file give or take a
    # few bytes (the warm run's champion may be the user's small baseline model); test_edge
    # checks both sides.
    sizes = [run.data.metrics[f"edge_{v}_size_kb"] for v in ("dynamic_range", "float")]
    assert sizes[0] <= 1.01 * sizes[1]
    result = champion_check("check_edge", mlflow_server)
    assert result["rows"] == 344
    for variant in ("float", "dynamic_range"):
        assert result[variant]["agreement"] >= 0.99, result
    assert result["explained_features"] == sorted(
        [
            "island",
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "sex",
            "year",
        ]
    )
    assert (
        "permutation" in result["explanation_columns"] and "shap" in result["explanation_columns"]
    )


# ---- retraining modes, the user's baseline and promotion, after the runs above -------------
# The DAG's default mode is warm: run 1 had no champion (a full search), run 2 was warm.


@pytest.fixture(scope="module")
def mode_runs(runs, mlflow_server, monkeypatch_module):
    """The warm run (the second shared run), the retrain run (the third), then one more run on
    the same server: a promotion of a candidate of the warm run."""
    from components.nas_tuner.history import load
    from core.tracking import client as client_for

    client = client_for(mlflow_server)
    state = runs["state"]
    out = {
        "state": state,
        "conf": runs["conf"],
        "settings": {
            "pipeline_root": str(state / "pipeline_root"),
            "metadata_path": str(state / "metadata.sqlite"),
        },
    }
    # The warm run is the second shared run (conftest.registry_runs): warm by default, with
    # max_trials 6 and examples/baseline_model.py.
    search, rows = load(client, "retrain-nas", runs[2])
    out["warm"] = {"run": runs[2], "search": search, "rows": rows, "log": runs["log2"]}
    # The retrain run is the third shared run (mode retrain, failed at the gate).
    search, rows = load(client, "retrain-nas", runs["failed"])
    out["retrain"] = {"run": runs["failed"], "search": search, "rows": rows}
    # A promotion of a candidate of the warm run: what is registered is under test here, not
    # its accuracy.
    mine = [r for r in out["warm"]["rows"] if r.get("architecture") and not r.get("seed")]
    out["promoted_row"] = mine[0]
    # As many epochs as the warm run, so the candidate can pass the gate (a pass over the
    # training split is a few steps on this sample).
    promote = dict(runs["conf"], promote_trial=f"{out['warm']['run']}:{mine[0]['trial_id']}")
    promote["epochs"] = 5
    run_id, status, log = dag_test(promote, runs["state"])
    assert status == "success", log[-5000:]
    search, rows = load(client, "retrain-nas", run_id)
    out["promote"] = {"run": run_id, "search": search, "rows": rows, "log": log}
    return out


def version_of(registry, run_id: str):
    [v] = [
        v
        for v in registry.search_model_versions(f"name = '{NAME}'")
        if v.tags.get("tfx_pipeline_run_id") == run_id
    ]
    return v


def registered_choices(registry, run_id: str) -> dict:
    """The architecture choices logged with the registered version of run `run_id`."""
    run = registry.get_run(version_of(registry, run_id).run_id)
    return {k: v for k, v in run.data.params.items() if not k.startswith(("nas/", "tuner/"))}


def test_first_run_searches_fully_and_the_scheduled_default_is_warm(runs, registry):
    from components.nas_tuner.history import load

    modes = {i: load(registry, "retrain-nas", runs[i])[0].data.tags["nas.mode"] for i in (1, 2)}
    assert modes == {1: "full", 2: "warm"}  # no champion before run 1


def test_warm_run_seeds_the_champion_and_lists_the_users_baseline(mode_runs, registry):
    rows = {r["trial_id"]: r for r in mode_runs["warm"]["rows"]}
    assert rows["0"]["seed"] == "champion" and rows["0"]["start"].startswith("warm from champion")
    assert rows["baseline"]["summary"] == "your model: baseline_model.py"
    assert rows["baseline"]["score"] is not None and rows["baseline"]["rank"] is not None
    # Re-evaluated beside the leaders (default: 2 more runs each), and judged on its mean too.
    assert rows["baseline"]["score_runs"] == rows["0"]["score_runs"] == 3
    searched = [r for r in rows.values() if r["trial_id"] != "baseline"]
    assert len(searched) == 2  # a quarter of max_trials=6, rounded up
    assert "warm start: " in mode_runs["warm"]["log"]


def test_retrain_trains_the_champions_architecture(mode_runs, registry):
    [row] = mode_runs["retrain"]["rows"]
    assert row["status"] == "retrain" and row["trial_id"] == "champion", row
    warm = mode_runs["warm"]["run"]  # its model is version 2, the champion
    params = registry.get_run(version_of(registry, warm).run_id).data.params
    if params.get("nas/user_module"):  # the user's baseline won the warm run, on its mean
        assert row["architecture"] is None and row["user_module"] == params["nas/user_module"]
        assert row["summary"] == f"the champion: your model {params['nas/user_module']}"
        return
    champion = registered_choices(registry, warm)
    choices = json.loads(row["architecture"])["choices"]
    assert {k: str(v) for k, v in choices.items()} == {k: champion[k] for k in choices}


def test_promotion_registers_the_named_candidates_architecture(mode_runs, registry):
    promoted = mode_runs["promoted_row"]
    [row] = mode_runs["promote"]["rows"]
    assert row["promoted_from"] == f"{mode_runs['warm']['run']}:{promoted['trial_id']}"
    choices = json.loads(promoted["architecture"])["choices"]
    registered = registered_choices(registry, mode_runs["promote"]["run"])
    assert {k: registered[k] for k in choices} == {k: str(v) for k, v in choices.items()}
    # It passes the same gate: @champion moves to it only when it is at least as good.
    version = version_of(registry, mode_runs["promote"]["run"])
    champion = aliases(registry)["champion"]
    assert aliases(registry)["challenger"] == version.version
    if version.tags["gate.decision"] == "champion":
        assert champion == version.version
    else:
        assert version.tags["gate.decision"] == "challenger" and champion == "2", version.tags
        assert "not at least as good as @champion" in version.tags["gate.reason"]


def test_generated_notebook_from_mlflow_executes_and_prints_its_accuracy(
    mode_runs, registry, tmp_path
):
    search = mode_runs["warm"]["search"]
    names = {
        os.path.basename(a.path)
        for a in registry.list_artifacts(search.info.run_id, "search/notebooks")
    }
    top = [r for r in mode_runs["warm"]["rows"] if r.get("rank")][:3]
    expected = {f"rank{r['rank']}_trial_{r['trial_id']}.ipynb" for r in top} | {"champion.ipynb"}
    assert names == expected
    first = f"rank1_trial_{top[0]['trial_id']}.ipynb"
    path = registry.download_artifacts(
        search.info.run_id, f"search/notebooks/{first}", str(tmp_path)
    )
    command = [TFX_PYTHON, "-m", "components.nas_tuner.notebooks", "--execute", path]
    accuracy = last_json(command, timeout=900)["accuracy"]
    assert 0.6 <= accuracy <= 1.0, accuracy  # above the majority class (0.44), 25 steps


ROLLBACK_REASON = "serving errors after the promotion"


def next_runs_baseline(mode_runs, run_id: str) -> str:
    """The ChampionResolver of a new pipeline run `run_id` on the shared runs' data and store
    (what a warm run and the Evaluator start from): its `baseline: ...` line."""
    from retrain_support import node_client

    settings = dict(
        mode_runs["settings"],
        data=mode_runs["conf"]["data"],
        mlflow_tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
    )
    lines: list[str] = []
    argv = node_client.node_argv(run_id, "ChampionResolver", settings)
    node_client.run_node(TFX_PYTHON, REPO, argv, None, lines.append)
    found = [ln for ln in lines if "baseline: " in ln]
    assert found, lines[-30:]
    return found[0]


def test_rollback_moves_the_champion_back_and_the_next_run_starts_from_it(
    mode_runs, registry, mlflow_server, tmp_path
):
    """The `rollback` DAG moves @champion to the champion before it (core.promotion's record;
    a registry without records: the version before it) and records why; the next run's
    ChampionResolver (what a warm run and the Evaluator start from) takes that version.
    Last in this module: it moves the champion the tests above read."""

    from core.promotion import champion_history

    was = int(aliases(registry)["champion"])
    earlier = [int(v.version) for v in champion_history(registry, NAME) if int(v.version) != was]
    conf = {"model": NAME, "reason": ROLLBACK_REASON}
    env = dict(os.environ, RETRAIN_STATE_DIR=str(mode_runs["state"]))
    log = dags_test("rollback", conf, env, timeout=600)
    assert "state=success" in log, log[-4000:]
    back = earlier[0] if earlier else max(v for v in versions(registry) if v < was)
    assert f"ROLLBACK: {NAME}@champion version {was} -> {back} ({ROLLBACK_REASON})" in log
    assert aliases(registry)["champion"] == str(back)
    tags = registry.get_model_version(NAME, str(back)).tags
    assert tags["rollback.reason"] == ROLLBACK_REASON and tags["rollback.from_version"] == str(was)
    assert tags["champion.by"] == "rollback" and tags["champion.from_version"] == str(was), tags
    last = json.loads(registry.get_registered_model(NAME).tags["rollback.last"])
    assert (last["from"], last["to"]) == (was, back)

    # A version that does not exist is refused in one line, and nothing moves.
    refused = subprocess.run(
        [TFX_PYTHON, "-m", "pipelines.rollback", "--model", NAME, "--reason", "x y z"]
        + ["--version", "99", "--settings", json.dumps({"mlflow_tracking_uri": mlflow_server})],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2
    assert f"ROLLBACK REFUSED: {NAME} has no version 99" in refused.stderr, refused.stderr[-2000:]
    assert aliases(registry)["champion"] == str(back)

    # The next run starts from it: its ChampionResolver resolves version `back`.
    assert f"{NAME}@champion = version {back} " in next_runs_baseline(mode_runs, "after-rollback")


LIVE_ARTIFACTS = """
import json, sys
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
config = pb.ConnectionConfig()
config.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(config)
states = [[a.uri, pb.Artifact.State.Name(a.state)] for a in store.get_artifacts()]
runs = [c.name for c in store.get_contexts_by_type("pipeline_run")]
print(json.dumps({"states": states, "runs": runs}))
"""


def metadata_records(state) -> dict:
    """{"states": [URI, ML Metadata state] of every artifact record in the shared runs' store (a
    retried node's records can share a URI), "runs": the pipeline runs it holds}."""
    return last_json([TFX_PYTHON, "-c", LIVE_ARTIFACTS, state / "metadata.sqlite"], timeout=300)


def tree_size(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_retention_keeps_what_serving_and_the_next_run_need_and_removes_the_rest(
    mode_runs, runs, registry, mlflow_server
):
    """The `retention` DAG with keep_runs 1 on the shared runs' state (after the rollback):
    it keeps the newest run, the run of @champion (after the rollback) and of @challenger (the
    promotion);
    it removes the others (runs 1 and 3 among them): their artifacts (files gone), their ML
    Metadata records, search state and MLflow searches. What is left is what the kept runs
    use, so the state stops growing with the number of runs; @champion still loads and
    predicts, and the next run still finds it.
    Last in this module."""

    state = mode_runs["state"]
    root = state / "pipeline_root"
    before = tree_size(root)
    nas = registry.get_experiment_by_name("retrain-nas").experiment_id
    first_search = registry.search_runs([nas], f"tags.tfx_pipeline_run_id = '{runs['failed']}'")
    assert first_search, "run 3 logged no search"
    env = dict(os.environ, RETRAIN_STATE_DIR=str(state), RETRAIN_RETENTION_SCHEDULE="none")
    log = dags_test("retention", {"keep_runs": 1}, env, timeout=900)
    assert "state=success" in log, log[-5000:]
    [result] = [ln for ln in log.splitlines() if '"removed_runs"' in ln and "RESULT " in ln]
    summary = json.JSONDecoder().raw_decode(result.split("RESULT ", 1)[1])[0]
    promoted = mode_runs["promote"]["run"]
    champion_run = registry.get_model_version_by_alias(NAME, "champion").tags["tfx_pipeline_run_id"]
    assert summary["kept"] == {
        "after-rollback": "one of the last 1",
        champion_run: f"registered {NAME}@champion",
        promoted: f"registered {NAME}@challenger",
    }, summary
    # every other run goes: run 3, and this module's retried push, among them
    removed = set(summary["removed_runs"])
    assert runs["failed"] in removed and not removed & set(summary["kept"]), summary
    assert summary["artifacts"] > 0 and summary["bytes_freed"] > 0 and summary["mlflow_runs"]
    assert summary["folders"] > 0  # TFX's working folders of the removed executions

    # What is left under the pipeline root is what the kept runs use: every artifact folder
    # there is a live record, and every DELETED record's files are gone. The removed runs'
    # ML Metadata records went, but for an execution that also wrote something kept (with its
    # run's context, for the next retention; its other outputs DELETED, for TFX's cache).
    records = metadata_records(state)
    assert set(summary["kept"]) <= set(records["runs"]), records["runs"]
    pruned = summary["metadata_records"]
    assert pruned["executions"] > 0 and pruned["artifacts"] > 0, pruned
    states = records["states"]
    deleted = [uri for uri, s in states if s == "DELETED"]
    assert len(deleted) == summary["artifacts"] - pruned["artifacts"], (deleted, pruned)
    live = {uri for uri, s in states if s != "DELETED"}
    assert not [uri for uri in deleted if os.path.exists(uri) and uri not in live]
    for folder in root.glob("*/*/*"):  # Component/output/execution id
        if not folder.parts[-3].startswith("_") and folder.parts[-2] != ".system":
            assert any(str(folder) == u or u.startswith(f"{folder}/") for u in live), folder
    assert tree_size(root) < before
    gone = registry.get_run(first_search[0].info.run_id).info.lifecycle_stage
    assert gone == "deleted"

    # Serving and the next run are untouched.
    champion = aliases(registry)["champion"]
    assert champion_check("check_pyfunc", mlflow_server)["version"] == champion
    baseline = next_runs_baseline(mode_runs, "after-retention")
    assert f"{NAME}@champion = version {champion} " in baseline
