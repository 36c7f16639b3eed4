"""Tiny-settings smoke runs of the benchmark scripts that run on the engine (bench/vision): the
script runs end to end, every method gets a test accuracy, and the report lists every set.
The benchmarks themselves are run by hand (their RESULTS.md say how); these only keep the
scripts working."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.data_cases import REPO


def test_the_vision_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "vision"
    cmd = [sys.executable, "bench/vision/run.py", "--smoke", "--minutes", "0.1", "--epochs", "1"]
    cmd += ["--seeds", "100", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert {(r["set"], r["seed"]) for r in results["runs"]} == {("digits", 100), ("signals", 100)}
    for run in results["runs"]:
        for method in ("ours", "hyperband", "hand_cnn", "linear"):
            assert 0.0 <= run[method]["test"] <= 1.0, (run["set"], method)
        assert run["ours"]["trials"] >= 1 and run["hyperband"]["trials"] >= 1
        # Hyperband stops at our search's wall clock (plus the epoch running at the limit).
        assert run["hyperband"]["search_s"] < run["ours"]["search_s"] + 60
    report = (out / "RESULTS.md").read_text()
    assert "## digits" in report and "## signals" in report and "| **median** |" in report
    log = (out / "search-signals-100.log").read_text()
    assert "space=stages" in log  # the auto space on signals


def test_the_nas_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "nas"
    cmd = [sys.executable, "bench/nas/run.py", "--datasets", "penguins", "--seeds", "100"]
    cmd += ["--epochs", "2", "--rank-archs", "6", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    methods = {r["method"] for r in results}
    assert {"kt-hyperband", "kt-bayesian", "nas-best", "random-full", "rank_study"} <= methods
    study = next(r for r in results if r["method"] == "rank_study")
    assert len(study["full"]) == 6 and set(study["tau"]) >= {"epochs=1", "rows=1/9", "rows=1/3"}
    assert [f["min_trials"] for f in study["false_stops"]] == [1, 5]
    table = (out / "table.md").read_text()
    # Every method, Hyperband included, has its share of Hyperband's compute per seed.
    assert "| kt-hyperband | " in table.split("every seed: share")[1]
    assert "Kendall tau" in table and "false-stop rate" in table


def test_the_modes_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "modes"
    cmd = [sys.executable, "bench/modes/run.py", "--seeds", "100", "--max-trials", "2"]
    cmd += ["--epochs", "1", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = json.loads((out / "results.json").read_text())["results"]
    for mode in ("full", "warm", "retrain"):
        assert 0.0 <= run[mode]["accuracy"] <= 1.0
    assert "champion test acc" in (out / "table.md").read_text()


def test_the_mnist1d_like_generator_writes_a_signals_folder(tmp_path):
    from bench.vision import mnist1d
    from core import tfrecord

    x, y = mnist1d.make(50, 100)
    assert x.shape == (50, mnist1d.LENGTH) and x.dtype == "float32"
    assert sorted(set(y.tolist())) == list(range(10)) and (y == 3).sum() == 5  # balanced
    again, _ = mnist1d.make(50, 100)
    assert (again == x).all() and not (mnist1d.make(50, 101)[0] == x).all()
    folder = mnist1d.write(tmp_path / "m1d", x, y)
    manifest = json.loads((tmp_path / "m1d" / "dataset.json").read_text())
    assert manifest["label"] == "label"
    rows = [
        e for p in sorted((tmp_path / "m1d").glob("*.tfrecord")) for e in tfrecord.examples(str(p))
    ]
    assert len(rows) == 50 and len(rows[0]["signal"][1]) == mnist1d.LENGTH and folder
