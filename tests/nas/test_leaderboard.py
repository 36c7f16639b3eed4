"""`make leaderboard`: the candidates of a run, read back from MLflow, each rebuildable."""

from __future__ import annotations

import json

import pytest

from components.nas_tuner.tracking import Tracker
from nas.encoding import Architecture
from nas.search import run_search, write_outputs
from nas.spaces import get_space
from pipelines import leaderboard
from tests.nas.conftest import config, load_digits, small


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two searches logged to one MLflow store, as two pipeline runs would; the second
    re-evaluates its top two candidates once more each."""
    root = tmp_path_factory.mktemp("leaderboard")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec, data = small(load_digits(), n_train=300, n_val=100)
    boards = {}
    for run, seed in (("run-a", 3), ("run-b", 4)):
        state = root / run / "state"
        tracker = Tracker(
            uri,
            "retrain-nas",
            str(state),
            f"nas-{run}",
            tags={"tfx_pipeline_run_id": run, "nas.space": "chain", "nas.strategy": "random"},
            artifact_location=str(root / "artifacts"),
        )
        again = {"reevaluate_top": 2, "reevaluate_runs": 1} if run == "run-b" else {}
        result = run_search(
            config(max_trials=3, epochs=1, seed=seed, **again),
            spec,
            data,
            str(state),
            tracker=tracker,
            log=lambda _: None,
        )
        paths = write_outputs(result, str(root / run / "out"))
        tracker.finish(str(root / run / "out"), {"best_score": result.best_score, "trials": 3})
        boards[run] = json.loads(open(paths["leaderboard_json"]).read())
    return uri, spec, boards


def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = leaderboard.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_rows_of_a_named_run_come_back_whole(store, capsys):
    uri, _, boards = store
    rc, out, _ = run_cli(capsys, "--tracking-uri", uri, "--run", "run-a", "--json")
    assert rc == 0
    assert json.loads(out) == boards["run-a"]


def test_latest_run_is_the_default_and_the_table_marks_the_pareto_front(store, capsys):
    uri, _, boards = store
    rc, out, _ = run_cli(capsys, "--tracking-uri", uri)
    assert rc == 0
    lines = out.splitlines()
    assert "NAS leaderboard of run run-b" in lines[0]
    rows = lines[2:]
    assert len(rows) == len(boards["run-b"]) == 3
    assert rows[0].split()[0] == "1" and f"{boards['run-b'][0]['score']:.4f}" in rows[0]
    front = [r for r in boards["run-b"] if r["pareto"]]
    assert sum("  *   " in row for row in rows) == len(front) >= 1
    # The re-evaluated candidates come first, with their mean and spread over 2 runs.
    assert all("+- " in row and "over 2 runs]" in row for row in rows[:2]), rows
    assert "over" not in rows[2]


def test_the_re_evaluation_reaches_the_trials_mlflow_runs(store):
    from core import tracking

    uri, _, boards = store
    client = tracking.client(uri)
    [exp] = [e for e in client.search_experiments() if e.name == "retrain-nas"]
    means = {
        r.data.tags.get("nas.trial_id"): r.data.metrics["score_mean"]
        for r in client.search_runs([exp.experiment_id])
        if "score_mean" in r.data.metrics
    }
    want = {r["trial_id"]: r["score_mean"] for r in boards["run-b"] if "score_mean" in r}
    assert len(want) == 2 and means == pytest.approx(want)


def test_every_candidate_rebuilds_from_its_row(store, capsys):
    uri, spec, _ = store
    rc, out, _ = run_cli(capsys, "--tracking-uri", uri, "--run", "run-b", "--json")
    assert rc == 0
    for row in json.loads(out):
        arch = Architecture.from_json(row["architecture"])
        model = get_space("chain", spec).build_model(arch)
        assert model.count_params() == row["params"], row["trial_id"]


def test_list_and_unknown_run(store, capsys):
    uri, _, _ = store
    rc, out, _ = run_cli(capsys, "--tracking-uri", uri, "--list")
    assert rc == 0 and out.index("run-b") < out.index("run-a")  # newest first
    rc, _, err = run_cli(capsys, "--tracking-uri", uri, "--run", "nope")
    assert rc == 2 and "no finished search of run 'nope'" in err


def test_a_promotion_finds_its_trial_or_names_what_exists(store):
    from components.nas_tuner import history
    from core import tracking

    uri, _, boards = store
    client = tracking.client(uri)
    # Airflow run ids hold colons: the trial is after the last one.
    assert history.parse_trial_ref("manual__2026-11-28T12:00:00+00:00:2") == (
        "manual__2026-11-28T12:00:00+00:00",
        "2",
    )
    where, row = history.find_trial(client, "retrain-nas", "run-a:1")
    assert where == "run-a" and row == next(r for r in boards["run-a"] if r["trial_id"] == "1")
    where, _ = history.find_trial(client, "retrain-nas", "0")
    assert where == "run-b"  # a bare trial id: the latest search
    with pytest.raises(history.LeaderboardError, match=r"run 'run-a' has no trial '9' \(its "):
        history.find_trial(client, "retrain-nas", "run-a:9")
    with pytest.raises(history.LeaderboardError, match="no finished search of run 'nope'"):
        history.find_trial(client, "retrain-nas", "nope:1")
    # Warm starts take the leaders of the latest other run.
    assert [r["trial_id"] for r in history.leaders(client, "retrain-nas", 2, "run-b")] == [
        r["trial_id"] for r in boards["run-a"][:2]
    ]
