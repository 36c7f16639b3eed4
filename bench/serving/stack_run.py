"""The served champion through the real stack while deploy_new_model switches versions.

    .venv/airflow/bin/python bench/serving/stack_run.py [--model-dir DIR] [--switches 3] \
        [--threads 4] [--rest-s 20] [--out bench/serving/results.json]

Starts the production stack (stack/native.py's Stack, as `make stack` and
tests/airflow/test_production.py do: PostgreSQL, Celery, FAB auth, MLflow with basic auth and its
registry webhook, the serving front) in a temporary folder. The model is a real one of this
product: the `retrain` DAG is run on the stack on a copy of the bundled penguins (small search),
and its registered version is copied twice (versions 1 and 2 of MODEL); with `--model-dir`, the
version's artifacts are kept there, and a later run registers those twice instead of training.

deploy_new_model is unpaused, @champion is set to version 1 through MLflow's API, and once the
front serves it, `--threads` client threads POST the version's input example (MLflow's serving
JSON) to the front's /invocations over kept-alive connections while @champion is moved through
MLflow's API `--switches` times (2, 1, 2, ...): each move reaches deploy_new_model through the
signed webhook and the Asset event. Per switch: the seconds from the alias move to the front
serving the new version, its breakdown (the Asset event, the DAG run, the task, the front's
log), and p50/p99 latency, throughput and errors before, during, around the switch (+-2 s) and
after. Beside it, at rest, the same load straight to the model server, and the in-process pyfunc
on the same rows (inprocess.py). Writes `--out` (key "stack"); stops and removes the stack.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import commit, stamp  # noqa: E402
from bench.serving.run import Load, in_process, serving_now, window  # noqa: E402
from core import registry_webhook  # noqa: E402
from stack.client import Airflow  # noqa: E402
from stack.native import Stack  # noqa: E402

TRAINED = "penguin_classifier"  # what the retrain DAG registers
MODEL = "penguin_bench"
DEPLOY = "deploy_new_model"
CONF = {"max_trials": 2, "epochs": 2, "strategy": "random", "seed": 7, "mode": "full"}
SETTINGS = {"explain": False, "edge_export": False, "data_profile": False}


def model_versions(stack: Stack, admin: Airflow, client, model_dir: Path | None) -> dict:
    """MODEL versions 1 and 2 (a real version of this product, twice); how they were made."""
    import mlflow

    made: dict = {}
    if model_dir is None or not (model_dir / "MLmodel").exists():
        data = stack.root / "penguins"
        shutil.copytree(REPO / "data" / "penguins", data)
        admin.unpause("retrain")
        started = time.monotonic()
        status, run = admin.trigger("retrain", {**CONF, "data": str(data)})
        assert status == 200, run
        state = admin.wait("retrain", run["dag_run_id"], 3600)
        made["trained_s"] = round(time.monotonic() - started, 1)
        assert state == "success", f"the retrain run ended {state}"
        for _ in (1, 2):
            client.copy_model_version(f"models:/{TRAINED}/1", MODEL)
        if model_dir is not None:
            shutil.rmtree(model_dir, ignore_errors=True)
            local = mlflow.artifacts.download_artifacts(f"models:/{TRAINED}/1")
            shutil.copytree(local, model_dir)
        made["from"] = f"retrain DAG run {run['dag_run_id']} on the stack"
        return made
    for _ in (1, 2):
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(model_dir), "model")
        mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    made["from"] = f"the artifacts of an earlier run's version, kept in {model_dir}"
    return made


def wall(text: str | None) -> float | None:
    """Seconds since the epoch of an ISO timestamp from Airflow's API."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def front_log(stack: Stack, since: float, version: str) -> dict:
    """The front's log lines about `version` after `since` (epoch s): {what: epoch s}."""
    found: dict = {}
    path = stack.root / "logs" / "serving.log"
    for line in path.read_text(errors="replace").splitlines():
        try:
            at = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if at < since or f"version {version}" not in line:
            continue
        for what in ("starting", "started", "ready", "switched"):
            if f"SERVING {what} " in line and what not in found:
                found[what] = at
    return found


def breakdown(stack: Stack, admin: Airflow, moved_at: float, version: str) -> dict:
    """Where the seconds from the alias move went: the receiver's Asset event, the DAG run's
    queueing and start, the deploy task's start and end, and the front's log."""
    status, body = admin.call("GET", f"/assets?name_pattern={registry_webhook.ASSET_NAME}")
    assert status == 200, body
    [asset] = [a for a in body["assets"] if a["name"] == registry_webhook.ASSET_NAME]
    status, body = admin.call("GET", f"/assets/events?asset_id={asset['id']}&limit=1000")
    assert status == 200, body
    events = [
        wall(e["timestamp"])
        for e in body["asset_events"]
        if e["extra"].get("model") == MODEL and str(e["extra"].get("version")) == version
    ]
    events = sorted(t for t in events if t and t >= moved_at - 1)
    status, body = admin.call("GET", f"/dags/{DEPLOY}/dagRuns?limit=100&order_by=-run_after")
    assert status == 200, body
    runs = [r for r in body["dag_runs"] if (wall(r.get("queued_at")) or 0) >= moved_at - 1]
    runs.sort(key=lambda r: wall(r["queued_at"]))
    points = {"asset_event": events[0] if events else None}
    if runs:
        run = runs[0]
        points.update(run_queued=wall(run["queued_at"]), run_started=wall(run["start_date"]))
        quoted = urllib.parse.quote(run["dag_run_id"])
        status, body = admin.call("GET", f"/dags/{DEPLOY}/dagRuns/{quoted}/taskInstances")
        if status == 200 and body["task_instances"]:
            ti = body["task_instances"][0]
            points.update(
                task_queued=wall(ti.get("queued_when")), task_started=wall(ti["start_date"])
            )
            points["task_ended"] = wall(ti["end_date"])
    points.update({f"front_{k}": v for k, v in front_log(stack, moved_at - 1, version).items()})
    return {k: (round(v - moved_at, 1) if v else None) for k, v in points.items()}


def safe_breakdown(stack: Stack, admin: Airflow, moved_at: float, version: str) -> dict:
    try:
        return breakdown(stack, admin, moved_at, version)
    except (AssertionError, KeyError, ValueError, OSError) as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def follow(port: int, version: str, timeout_s: float) -> float | None:
    """Polls the front until it serves `version`; the monotonic time it did, else None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if serving_now(port) == version:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.25)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--switches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rest-s", type=float, default=20)
    parser.add_argument("--follow-timeout-s", type=float, default=600)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    (REPO / ".local").mkdir(exist_ok=True)  # the data must lie under allowed_roots (".")
    root = Path(tempfile.mkdtemp(prefix="bench-serving-stack-", dir=REPO / ".local"))
    stack = Stack(
        root,
        values={"RETRAIN_SCHEDULE": "none"},
        extra_env={"RETRAIN_SETTINGS": json.dumps(SETTINGS)},
    )
    result: dict = {**stamp(), "commit": os.environ.get("BENCH_COMMIT") or commit()}
    result.update(model=MODEL, threads=args.threads, rest_s=args.rest_s, switches=[])
    result["load_before"] = os.getloadavg()
    try:
        started = time.monotonic()
        stack.start()
        result["stack_start_s"] = round(time.monotonic() - started, 1)
        os.environ.update(
            MLFLOW_TRACKING_URI=stack.mlflow,
            MLFLOW_TRACKING_USERNAME="admin",
            MLFLOW_TRACKING_PASSWORD=stack.secrets["MLFLOW_ADMIN_PASSWORD"],
            RETRAIN_SERVING_URL=stack.serving,
            RETRAIN_SERVING_TOKEN=stack.secrets["SERVING_TOKEN"],
        )
        from mlflow import MlflowClient

        client = MlflowClient(stack.mlflow, registry_uri=stack.mlflow)
        admin = Airflow(stack.api, "admin", stack.secrets["AIRFLOW_ADMIN_PASSWORD"])
        result["model_made"] = model_versions(stack, admin, client, args.model_dir)
        status, body = admin.unpause(DEPLOY)
        assert status == 200, body
        port = stack.ports["serving"]
        moved = time.time()
        t0 = time.monotonic()
        client.set_registered_model_alias(MODEL, "champion", "1")
        served = follow(port, "1", args.follow_timeout_s)
        assert served, f"version 1 was not served in {args.follow_timeout_s} s"
        result["first"] = {
            "follow_s": round(served - t0, 1),
            "breakdown": safe_breakdown(stack, admin, moved, "1"),
        }
        print(json.dumps(result["first"]), flush=True)
        import mlflow

        local = mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1")
        body = (Path(local) / "serving_input_example.json").read_text()
        result["rows"] = len(json.loads(body)["dataframe_split"]["data"])
        result["in_process"] = in_process(MODEL, "1", body, args.rest_s)
        from serving.deploy import Control

        backend = Control(stack.serving, stack.secrets["SERVING_TOKEN"]).serving()["url"]
        for name, target in (("direct", int(backend.rsplit(":", 1)[1])), ("front", port)):
            with Load(target, body.encode(), args.threads) as load:
                time.sleep(args.rest_s)
            result[f"rest_{name}"] = window(load.records, 0, float("inf"))
        moves = []
        with Load(port, body.encode(), args.threads) as load:
            time.sleep(args.rest_s)
            for i in range(args.switches):
                version = "2" if i % 2 == 0 else "1"
                moved, start = time.time(), time.monotonic()
                client.set_registered_model_alias(MODEL, "champion", version)
                switched = follow(port, version, args.follow_timeout_s)
                if switched is None:
                    moves.append((version, moved, start, None))
                    break
                moves.append((version, moved, start, switched))
                time.sleep(args.rest_s)
        records = list(load.records)
        for version, moved, start, switched in moves:
            end = switched or start + args.follow_timeout_s
            row = {
                "to": version,
                "follow_s": round(switched - start, 1) if switched else None,
                "breakdown": safe_breakdown(stack, admin, moved, version),
                "before": window(records, start - args.rest_s, start),
                "during": window(records, start, end),
                "switch": window(records, end - 2, end + 2),
                "after": window(records, end, end + args.rest_s),
            }
            result["switches"].append(row)
            print(json.dumps(row), flush=True)
        result["total_requests"] = len(records)
        result["total_errors"] = sum(1 for r in records if not r[2])
        result["load_after"] = os.getloadavg()
        result["stack_restarts"] = stack.restarts
    finally:
        logs = root / "logs"
        keep = Path(tempfile.mkdtemp(prefix="bench-serving-logs-"))
        shutil.copytree(logs, keep / "logs", dirs_exist_ok=True)
        shutil.copytree(root / "airflow" / "logs", keep / "airflow-logs", dirs_exist_ok=True)
        print(f"logs kept in {keep}", flush=True)
        stack.stop()
        stack.postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out["stack"] = result
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "switches"}))
    return 0 if len(result["switches"]) == args.switches else 1


if __name__ == "__main__":
    sys.exit(main())
