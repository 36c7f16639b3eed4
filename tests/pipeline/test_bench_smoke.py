"""Tiny-settings smoke runs of the benchmark scripts of the TFX-facing layer: bench/edge_tolerance
(docs/registry.md's edge figure), bench/beam_modes (its Beam table), bench/bn_momentum
(why the spaces' batch normalisation uses momentum 0.9) and bench/import_times (the imports a
fresh node process pays). The benchmarks are run by hand
(bench/RESULTS.md says how); these keep the scripts working."""

from __future__ import annotations

import json
import subprocess
import sys

from pipelines.settings import REPO


def run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_edge_tolerance_benchmark_measures_a_quantised_model(tmp_path):
    out = tmp_path / "edge.json"
    done = run(["bench/edge_tolerance.py", "--seeds", "3", "--epochs", "1", "--out", str(out)])
    [row] = json.loads(out.read_text())["rows"]
    float_kb, quantised_kb = row["float"]["size_kb"], row["dynamic_range"]["size_kb"]
    assert quantised_kb < float_kb  # the script picks a draw that TFLite quantises
    assert row["float"]["max_shift_share"] < 1e-3 < row["dynamic_range"]["max_shift_share"]
    assert 0.0 <= row["dynamic_range"]["agreement"] <= 1.0
    assert "| 3 |" in done.stdout


def test_the_beam_benchmark_times_the_nodes_it_runs(tmp_path):
    out = tmp_path / "beam.json"
    cmd = ["bench/beam_modes.py", "--modes", "in-memory", "--last", "ExampleGen"]
    done = run([*cmd, "--out", str(out)])
    result = json.loads(out.read_text())
    [seconds] = result["seconds"]["in-memory"]
    assert list(seconds)[-1] == "ExampleGen" and seconds["ExampleGen"] > 0
    [load] = result["load_1min"]["in-memory"]  # UTC start, load, UTC end, load
    assert len(load) == 4 and load[1] >= 0 and result["commit"]
    assert "| none (in-memory DirectRunner" in done.stdout


def test_the_batch_norm_momentum_benchmark_trains_both_momenta():
    done = run(["bench/bn_momentum.py", "--epochs", "1"])
    lines = [line for line in done.stdout.splitlines() if line.startswith("momentum ")]
    assert [line.split(":")[0] for line in lines] == [
        "momentum 0.99 epochs 1",
        "momentum 0.9 epochs 1",
    ]
    for line in lines:
        val = float(line.split(" val ")[1])
        assert 0.0 <= val <= 1.0


def test_the_import_benchmark_times_each_import_in_a_fresh_process(tmp_path):
    out = tmp_path / "imports.json"
    done = run(
        ["bench/import_times.py", "--modules", "json", "csv", "--repeats", "2"]
        + ["--out", str(out)]
    )
    seconds = json.loads(out.read_text())["seconds"]
    assert list(seconds) == ["json", "csv"]
    assert all(len(runs) == 2 and all(0 <= s < 5 for s in runs) for runs in seconds.values())
    assert "| `json` |" in done.stdout


def test_the_season_stream_drifts_shifts_and_corrupts_one_batch(tmp_path):
    """bench/season/stream.py (the season benchmark's data; the season itself runs a DAG per
    week, by hand): the same seed gives the same rows; a logistic regression trained on a week
    before the shift scores lower on the future holdout than one trained after it; the
    corrupted week's labels carry nothing to learn."""
    sys.path.insert(0, str(REPO / "bench" / "season"))
    try:
        import report
        import stream
    finally:
        sys.path.remove(str(REPO / "bench" / "season"))
    import pandas as pd

    season = stream.Season(weeks=5, rows=1500, shift=3, corrupt=4, holdout=1500, seed=1)
    weekly, holdout = stream.batches(season)
    assert stream.batches(season)[1][:5] == holdout[:5]
    assert [season.kind(w) for w in weekly] == ["start", "drift", "shift", "corrupted", "drift"]
    held = pd.DataFrame(holdout, columns=stream.COLUMNS)
    auc = {w: report.reference(weekly[w], held)["roc_auc"] for w in weekly}
    assert auc[2] + 0.15 < auc[3] and auc[2] + 0.15 < auc[5], auc
    assert auc[4] < 0.6, auc  # shuffled labels
    cmd = ["bench/season/stream.py", "--out", str(tmp_path), "--weeks", "3", "--rows", "50"]
    run([*cmd, "--shift", "3", "--corrupt", "2", "--holdout", "50"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "holdout.csv",
        "week_01.csv",
        "week_02.csv",
        "week_03.csv",
    ]
