"""A season of weekly retraining, measured: one Asset-triggered DAG run per weekly batch under a
real scheduler, with the retention DAG between runs, against a fixed future holdout.

    nice -n 19 .venv/tfx/bin/python bench/season/run.py                        # the season
    .venv/tfx/bin/python bench/season/run.py --weeks 3 --rows 400 --holdout 400 \\
        --shift 3 --corrupt 2 --max-trials 1 --epochs 1 --out /tmp/season-smoke  # a smoke run

The stream is bench/season/stream.py's (gradual drift, an abrupt shift, a corrupted batch, the
holdout: rows of the last week's distribution never trained on). A real Airflow (api-server,
scheduler on LocalExecutor, dag-processor: tests/airflow/conftest.py's `running_airflow`) runs the
generic `retrain_on_data` DAG on its Asset, the folder `WORK/data` ($RETRAIN_DATA_ASSET), with
the embedded stores (ML Metadata and MLflow in SQLite under its state folder). Each week:
1. the week's batch replaces the CSV in the folder, and an Asset event is posted (REST API);
2. the run it starts is awaited; read back: its state and wall time, the gate's decision and
   metric (the `gate.*` tags of core/names.py on the version it registered; else the Pusher's
   NOT BLESSED reason; else the failed task), whether @champion moved to it, the champion;
3. the champion and the run's own version are scored on the holdout with the registered pyfunc
   (MLflow's `models:/NAME/VERSION`), beside a scikit-learn logistic regression trained on the
   same batch and the trivial baseline (the prior);
4. the `retention` DAG runs (keep_runs, keep_champions as given, keep_days 0), then the disk used
   by the pipeline root, MLflow (its SQLite file and artifacts) and ML Metadata is measured.
Writes OUT/results.json, OUT/season.png and OUT/RESULTS.md (bench/season/report.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

import report  # noqa: E402
import stream  # noqa: E402

from bench.common import stamp  # noqa: E402
from core import names, registry, tracking  # noqa: E402
from stack.client import Airflow  # noqa: E402

DAG, RETENTION = "retrain_on_data", "retention"
MODEL = "season_churn"
SETTINGS = {"explain": False, "edge_export": False, "data_profile": False}


def du(*paths: Path) -> int:
    """Bytes under `paths` (files or folders; missing ones count 0)."""
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def disk(state: Path) -> dict[str, float]:
    """MB used by the pipeline root, MLflow and ML Metadata (SQLite files with their journals)."""
    mb = {
        "pipeline_root": du(state / "pipeline_root"),
        "mlflow": du(*state.glob("mlflow.db*"), state / "mlartifacts"),
        "ml_metadata": du(*state.glob("metadata.sqlite*")),
    }
    return {k: round(v / 1e6, 2) for k, v in mb.items()}


def put_batch(folder: Path, source: Path) -> None:
    """The week's batch becomes the folder's only CSV (written beside, then renamed)."""
    for old in folder.glob("*.csv"):
        old.unlink()
    tmp = folder / ".batch.tmp"
    shutil.copy(source, tmp)
    tmp.rename(folder / "batch.csv")


def new_run(api: Airflow, dag_id: str, seen: set[str], timeout_s: float = 300) -> str:
    """The id of a run of `dag_id` not in `seen`, once the scheduler has made it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = api.call("GET", f"/dags/{dag_id}/dagRuns?limit=100")
        found = [r["dag_run_id"] for r in body.get("dag_runs", [])] if status == 200 else []
        fresh = [r for r in found if r not in seen]
        if fresh:
            return fresh[0]
        time.sleep(3)
    raise TimeoutError(f"no new run of {dag_id} within {timeout_s} s")


def xcom(api: Airflow, dag_id: str, run_id: str, task: str):
    path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task}"
    status, body = api.call("GET", f"{path}/xcomEntries/return_value")
    if status != 200:
        return None
    value = body.get("value")
    return json.loads(value) if isinstance(value, str) else value


def failure(api: Airflow, dag_id: str, run_id: str) -> str:
    """The first failed task and its one line (`RETRAIN FAILED ...` in its log)."""
    failed = [t for t in api.task_instances(dag_id, run_id) if t["state"] == "failed"]
    if not failed:
        return "failed (no failed task)"
    task = failed[0]
    path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task['task_id']}"
    status, body = api.call("GET", f"{path}/logs/{task['try_number']}?full_content=true")
    text = json.dumps(body) if status == 200 else ""
    for marker in ("RETRAIN FAILED", "DATA ANOMALY", "DRIFT"):
        at = text.find(marker)
        if at >= 0:
            return text[at : text.find('"', at)][:300]
    return f"{task['task_id']} failed"


def outcome(api: Airflow, client, run_id: str, state: str) -> dict:
    """The gate's decision for one run, from the registry (its version's gate.* tags) or, with
    no version, the Pusher's reason or the failed task."""
    found = client.search_model_versions(
        f"name = {tracking.literal(MODEL)} and {tracking.tag_equals('airflow_run_id', run_id)}"
    )
    if found:
        v = found[0]
        tags = v.tags
        return {
            "version": int(v.version),
            "decision": tags.get(names.TAG_GATE_DECISION) or "registered",
            "gate_metric": tags.get(names.TAG_GATE_METRIC),
            "gate_value": report.number(tags.get(names.TAG_GATE_VALUE)),
            "gate_champion": report.number(tags.get(names.TAG_GATE_CHAMPION)),
            "gate_trivial": report.number(tags.get(names.TAG_GATE_TRIVIAL)),
            "reason": tags.get(names.TAG_GATE_REASON, ""),
        }
    if state != "success":
        return {"version": None, "decision": "stopped", "reason": failure(api, DAG, run_id)}
    pushed = (xcom(api, DAG, run_id, "Pusher") or {}).get("pushed") or {}
    return {"version": None, "decision": "not_blessed", "reason": pushed.get("reason", "")}


@dataclasses.dataclass
class Scorer:
    """Holdout scores of registered versions (cached: a version's never change)."""

    holdout: object  # DataFrame
    store: str = ""  # the run's MLflow tracking and registry URI
    done: dict = dataclasses.field(default_factory=dict)

    def version(self, v: int | None) -> dict | None:
        if v is None:
            return None
        if v not in self.done:
            import mlflow

            mlflow.set_tracking_uri(self.store)  # models:/ URIs resolve in the run's registry
            mlflow.set_registry_uri(self.store)
            model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{v}")
            frame = model.predict(self.holdout.drop(columns=[stream.LABEL]))
            y = self.holdout[stream.LABEL]
            self.done[v] = report.scores(y, report.positive(frame), report.said_one(frame))
        return self.done[v]


def season_run(args, work: Path, out: Path) -> dict:
    from tests.airflow.conftest import running_airflow

    season = stream.Season(
        weeks=args.weeks, rows=args.rows, shift=args.shift, corrupt=args.corrupt,
        holdout=args.holdout, seed=args.seed,
    )  # fmt: skip
    weekly, holdout = stream.batches(season)
    batches = work / "batches"
    for week, table in weekly.items():
        stream.write_csv(batches / f"week_{week:02d}.csv", table)
    stream.write_csv(work / "holdout.csv", holdout)
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest = {"label": stream.LABEL, "registered_model_name": MODEL}
    (data / "dataset.json").write_text(json.dumps(manifest))
    settings = {**SETTINGS, "max_trials": args.max_trials, "epochs": args.epochs}
    settings.update(json.loads(args.settings))

    import pandas as pd

    scorer = Scorer(pd.read_csv(work / "holdout.csv"))
    password = secrets.token_urlsafe(12)
    home = work / "airflow"
    home.mkdir(exist_ok=True)
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the embedded store, under the state folder
    runs, started = [], time.monotonic()
    with running_airflow(
        home,
        password=password,
        RETRAIN_DATA_ASSET=data.as_uri(),
        RETRAIN_SETTINGS=json.dumps(settings),
        RETRAIN_RETENTION_SCHEDULE="none",
        RETRAIN_RETRIES="1",
    ) as (env, base):
        state = Path(env["RETRAIN_STATE_DIR"])
        api = Airflow(base, "admin", password)
        for dag_id in (DAG, RETENTION):
            status, body = api.unpause(dag_id)
            assert status == 200, (dag_id, status, body)
        status, body = api.call("GET", "/assets?limit=100")
        [asset] = [a for a in body["assets"] if a["uri"] == data.as_uri()]
        store = f"sqlite:///{state / 'mlflow.db'}"
        client = tracking.client(store)
        scorer.store = store
        seen: set[str] = set()
        champion = None
        for week in range(1, season.weeks + 1):
            batch = batches / f"week_{week:02d}.csv"
            put_batch(data, batch)
            status, body = api.call(
                "POST", "/assets/events", {"asset_id": asset["id"], "extra": {"week": week}}
            )
            assert status == 200, body
            run_id = new_run(api, DAG, seen)
            seen.add(run_id)
            state_now = api.wait(DAG, run_id, timeout_s=args.run_timeout_s)
            info = api.run(DAG, run_id)
            row = {
                "week": week,
                "kind": season.kind(week),
                "rows": len(weekly[week]),
                "run_id": run_id,
                "state": state_now,
                "wall_s": report.seconds(info.get("start_date"), info.get("end_date")),
            }
            row.update(outcome(api, client, run_id, state_now))
            now = registry.version_by_alias(client, MODEL, names.CHAMPION)
            now = int(now.version) if now is not None else None
            row["promoted"] = now is not None and now == row["version"] and now != champion
            row["champion_version"] = now
            row["challenger_holdout"] = scorer.version(row["version"])
            row["champion_holdout"] = scorer.version(now)
            row["previous_champion"] = champion
            row["previous_champion_holdout"] = scorer.version(champion)
            row["reference_holdout"] = report.reference(weekly[week], scorer.holdout)
            champion = now
            row["retention"] = retention(api, args)
            row["disk_mb"] = disk(state)
            runs.append(row)
            print(report.line(row), flush=True)
            (out / "results.json").write_text(json.dumps(partial(args, season, runs), indent=1))
    result = partial(args, season, runs)
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def retention(api: Airflow, args) -> dict:
    """One retention DAG run, as the operator would trigger it; its state and what it did."""
    conf = {"keep_runs": args.keep_runs, "keep_champions": args.keep_champions, "keep_days": 0}
    status, body = api.trigger(RETENTION, conf)
    assert status == 200, body
    run_id = body["dag_run_id"]
    state = api.wait(RETENTION, run_id, timeout_s=1800)
    done = xcom(api, RETENTION, run_id, "clean") or [{}]
    summary = done[0] if done else {}
    return {
        "state": state,
        "versions_removed": summary.get("versions_removed", []),
        "runs_removed": len(summary.get("removed_runs", [])),
        "runs_kept": len(summary.get("kept", {})),
        "metadata_records": summary.get("metadata_records"),
        "mb_freed": round(summary.get("bytes_freed", 0) / 1e6, 2),
    }


def partial(args, season, runs: list[dict]) -> dict:
    return {
        **stamp(),
        "command": " ".join(["bench/season/run.py", *sys.argv[1:]]),
        "season": dataclasses.asdict(season),
        "settings": {**SETTINGS, "max_trials": args.max_trials, "epochs": args.epochs}
        | json.loads(args.settings),
        "retention": {"keep_runs": args.keep_runs, "keep_champions": args.keep_champions},
        "runs": report.finish(runs),
    }


def main(argv: list[str] | None = None) -> int:
    # A SIGTERM ends the season like Ctrl-C: running_airflow's servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__)
    for field in dataclasses.fields(stream.Season):
        parser.add_argument(f"--{field.name}", type=int, default=field.default)
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--settings", default="{}", help="more operator settings (JSON)")
    parser.add_argument("--keep-runs", type=int, default=2)
    parser.add_argument("--keep-champions", type=int, default=2)
    parser.add_argument("--run-timeout-s", type=float, default=3600)
    parser.add_argument("--work", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="season-"))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    result = season_run(args, work, args.out)
    result["goals"] = report.goals(result)
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    report.plot(result, args.out / "season.png")
    (args.out / "RESULTS.md").write_text(report.markdown(result))
    print(report.markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
