"""Learning that follows the data, measured at 20k, 200k and 2M rows (issue 32).

One generated table (bench/scale/data.py: three classes from a random teacher network, so more
rows keep helping) at each size goes through the product's `make run DATA=... LABEL=label`
path (the retrain DAG, embedded stores, a fresh state per size) with a search time budget.
Per size it records:

- each node's wall time (ML Metadata executions) and peak resident memory (the node's RESULT
  line, pipelines/run_node.py);
- the rows each trial's and the Trainer's epochs saw (the search's leaderboard rows and the
  registered version's metrics, as they were logged);
- the champion's accuracy on FRESH rows from the generator (another seed), through its pyfunc;
- on the same training rows and the same fresh rows: scikit-learn's MLPClassifier and
  HistGradientBoostingClassifier, as references.

    .venv/tfx/bin/python bench/scale/run.py [--sizes 20000 200000 2000000] [--budget-min 4]

Writes bench/scale/results.json and bench/scale/RESULTS.md (with the date, the machine and this
command). Run it with nothing else busy on the machine; a size already in results.json is kept
unless --force.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import commit, fit_and_score, node_seconds, stamp  # noqa: E402
from bench.scale import data as tables  # noqa: E402

HERE = REPO / "bench" / "scale"
FRESH = 50_000  # fresh rows each champion and reference is scored on
TEACHER_SEED, DATA_SEED, FRESH_SEED = 7, 1, 99


def peak_rss(log: str) -> dict[str, float]:
    """Each node's peak resident memory (MiB) from the RESULT lines in the run's task logs."""
    out = {}
    for line in log.splitlines():
        if "RESULT {" in line and "peak_rss_mb" in line:
            # A task log's line: the node's RESULT object, then Airflow's own fields.
            text = line.split("RESULT ", 1)[1]
            result = json.JSONDecoder().raw_decode(text)[0]
            out[result["node"]] = result["peak_rss_mb"]
    return out


def run_product(
    size: int,
    folder: str,
    state: Path,
    budget_min: float,
    conf: dict | None = None,
    settings: dict | None = None,
) -> dict:
    """`make run DATA=folder LABEL=label` with the budget (or `conf`, the whole CONF), in its
    own state, with the operator's `settings` (RETRAIN_SETTINGS) besides the bench's; what it
    logged."""
    if conf is None:
        conf = {"mode": "full", "time_budget_min": budget_min, "max_trials": 50}
    # The run's own stores: not an MLflow URI this process set (mlflow.set_tracking_uri
    # exports MLFLOW_TRACKING_URI, which `make run` would inherit).
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env = dict(
        inherited,
        RETRAIN_STATE_DIR=str(state),
        AIRFLOW_HOME=str(state / "airflow"),
        RETRAIN_SETTINGS=json.dumps({"explain": False, "edge_export": False, **(settings or {})}),
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "run",
            f"DATA={folder}",
            "LABEL=label",
            f"CONF={json.dumps(conf)}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    logs = sorted(glob.glob(str(state / "logs" / "make-run-*.log")))
    log = Path(logs[-1]).read_text() if logs else out.stdout + out.stderr
    run = re.findall(r"DagRun Finished: dag_id=retrain, .*? run_id=([^,]+),", log)
    return {
        "ok": out.returncode == 0,
        "wall_s": round(wall, 1),
        "run_id": run[-1] if run else None,
        "summary": out.stdout[-3000:],
        "log": log,
        "conf": conf,
    }


def logged(state: Path, run_id: str) -> dict:
    """What the run logged to MLflow: the registered version's metrics and the search's rows."""
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{state / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    c = MlflowClient(uri, registry_uri=uri)
    versions = [
        v
        for model in c.search_registered_models()
        for v in c.search_model_versions(f"name = '{model.name}'")
        if v.tags.get("tfx_pipeline_run_id") == run_id
    ]
    out: dict = {
        "model": versions[0].name if versions else None,
        "version": versions[0].version if versions else None,
    }
    if versions:
        out["metrics"] = c.get_run(versions[0].run_id).data.metrics
        out["decision"] = versions[0].tags.get("gate.decision")
    nas = c.get_experiment_by_name("retrain-nas")
    searches = c.search_runs(
        [nas.experiment_id],
        f"tags.tfx_pipeline_run_id = '{run_id}' and tags.`nas.role` = 'search'",
    )
    if searches:
        path = c.download_artifacts(searches[0].info.run_id, "search/leaderboard.json")
        rows = json.loads(Path(path).read_text())
        out["trials"] = [
            {
                k: r.get(k)
                for k in (
                    "trial_id",
                    "status",
                    "score",
                    "epochs",
                    "rows_per_epoch",
                    "batch_size",
                    "fidelity",
                    "wall_s",
                )
            }
            for r in rows
        ]
    return out


def champion_accuracy(state: Path, model: str, columns, y, version=None) -> float:
    """Accuracy on the fresh rows of the run's registered version (`version`), else of
    @champion, through its pyfunc."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    uri = f"sqlite:///{state / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    which = f"/{version}" if version else "@champion"
    champion = mlflow.pyfunc.load_model(f"models:/{model}{which}")
    predicted = champion.predict(pd.DataFrame(columns))["class"].astype(int).to_numpy()
    return float(np.mean(predicted == y))


def references(size: int, columns_fresh, y_fresh) -> dict:
    """MLPClassifier and HistGradientBoostingClassifier on the same rows, scored on the fresh
    rows; their fit times."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    columns, y = tables.rows(size, DATA_SEED, teacher_seed=TEACHER_SEED)

    x, x_fresh = tables.matrix(columns), tables.matrix(columns_fresh)
    models = {
        "mlp": make_pipeline(
            StandardScaler(),
            MLPClassifier((64, 64), early_stopping=True, max_iter=200, random_state=0),
        ),
        "hgb": HistGradientBoostingClassifier(random_state=0),
    }
    return fit_and_score(models, x, y, x_fresh, y_fresh)


class Load:
    """`uptime`'s 1-minute load average, sampled every `every_s` seconds while a size runs
    (another engineer's work may share this machine's 2 cores)."""

    def __init__(self, every_s: float = 30.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(every_s):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = self.samples or [float("nan")]
        return {"min": min(s), "max": max(s), "mean": round(sum(s) / len(s), 2), "n": len(s)}


def when() -> dict:
    """The UTC time and the commit a size was measured at."""
    return {"utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit()}


def measure(size: int, root: Path, budget_min: float) -> dict:
    folder = tables.write_csv(
        str(root / f"data-{size}"),
        size,
        DATA_SEED,
        shards=max(1, size // 250_000),
        teacher_seed=TEACHER_SEED,
    )
    state = root / f"state-{size}"
    shutil.rmtree(state, ignore_errors=True)  # a fresh state: no earlier champion, no cache
    product = run_product(size, folder, state, budget_min)
    columns_fresh, y_fresh = tables.rows(FRESH, FRESH_SEED, teacher_seed=TEACHER_SEED)
    result = {
        "rows": size,
        "ok": product["ok"],
        "wall_s": product["wall_s"],
        "conf": product["conf"],
        "nodes_s": node_seconds(state / "metadata.sqlite") if product["run_id"] else {},
        "peak_rss_mb": peak_rss(product["log"]),
        "majority": float((y_fresh == 0).mean()),
    }
    if product["run_id"]:
        result.update(logged(state, product["run_id"]))
        if result.get("version"):
            result["champion_accuracy"] = champion_accuracy(
                state, result["model"], columns_fresh, y_fresh, result["version"]
            )
    else:
        result["summary"] = product["summary"]
    result["references"] = references(size, columns_fresh, y_fresh)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 2_000_000])
    parser.add_argument("--budget-min", type=float, default=4.0)
    parser.add_argument("--root", default=str(REPO / ".local" / "bench-scale"))
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(stamp())
    results["command"] = "bench/scale/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    for size in args.sizes:
        if str(size) in results.get("sizes", {}) and not args.force:
            continue
        root = Path(args.root)
        root.mkdir(parents=True, exist_ok=True)
        started = when()
        with Load() as load:
            result = measure(size, root, args.budget_min)
        result["measured"] = {
            "started": started["utc"],
            "ended": when()["utc"],
            "commit": started["commit"],
            "command": results["command"],
            "load_1min": load.summary(),
        }
        results.setdefault("sizes", {})[str(size)] = result
        path.write_text(json.dumps(results, indent=1, sort_keys=True))
        print(
            json.dumps(
                {
                    k: result.get(k)
                    for k in ("rows", "ok", "wall_s", "champion_accuracy", "references")
                }
            ),
            flush=True,
        )
    from bench.scale import report

    (out / "RESULTS.md").write_text(report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
