"""How long serving/deploy.py's deploy takes, Airflow left out: the front (`python -m serving`)
on a local MLflow registry (SQLite, no server), a real model version registered twice, and
deploys of versions 1, 2, 1, ... each after @champion moved to it.

    .venv/airflow/bin/python bench/serving/deploy_time.py --model-dir DIR [--spares 0,2] \
        [--deploys 3] [--settle-s 60] [--out bench/serving/results.json]

DIR: a version's artifacts (stack_run.py --model-dir keeps the penguin model the stack's retrain
DAG registered). For each value of `--spares` (the setting serving_spares): a fresh front, then
`--settle-s` seconds (its spares import), then the deploys, `--settle-s` apart. Per deploy: its
wall seconds, and from the front's log the seconds from the model server's start to its /ping.
Writes `--out` (key "deploy_time", by spares). Run from an older checkout, the same script
times that checkout's deploy (serving_spares unknown there: give --spares 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import commit, stamp  # noqa: E402
from core import envs, promotion, waiting  # noqa: E402
from serving.backend import free_port  # noqa: E402

MODEL = "bench_deploy"


def register(uri: str, artifacts: Path, root: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("deploy-time", artifact_location=str(root / "art"))
    for _ in (1, 2):
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(artifacts), "model")
        mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)


def ready_after(log: Path, version: str, since: str) -> float | None:
    """The front's "ready ... N s after its start" for `version`, logged after `since`."""
    for line in log.read_text(errors="replace").splitlines():
        if line[:23] < since:
            continue
        found = re.search(rf"SERVING ready \S+ version {version} at \S+, ([0-9.]+) s", line)
        if found:
            return float(found.group(1))
    return None


def run(spares: int, deploys: int, settle_s: float, uri: str, root: Path) -> list[dict]:
    from mlflow import MlflowClient

    from serving import deploy

    port = free_port()
    state = root / f"front-{spares}"
    os.environ.update(
        MLFLOW_TRACKING_URI=uri,
        RETRAIN_SERVING_URL=f"http://127.0.0.1:{port}",
        RETRAIN_SERVING_MODEL=MODEL,
        RETRAIN_SERVING_SPARES=str(spares),
        PYTHONPATH=str(REPO),
    )
    state.mkdir()
    log = state / "front.log"
    with open(log, "w") as out:
        front = subprocess.Popen(
            [envs.AIRFLOW_PYTHON, "-m", "serving", "--state-dir", str(state)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = MlflowClient(uri)
    rows = []
    try:
        waiting.wait_until(lambda: waiting.answers(f"http://127.0.0.1:{port}/-/health"), 120)
        time.sleep(settle_s)
        for i in range(deploys):
            version = "1" if i % 2 == 0 else "2"
            promotion.make_champion(client, MODEL, version, "bench")
            since = time.strftime("%Y-%m-%d %H:%M:%S")
            started = time.monotonic()
            deploy.deploy(client, MODEL, version)
            took = round(time.monotonic() - started, 1)
            row = {"to": version, "deploy_s": took, "ready_s": ready_after(log, version, since)}
            rows.append({**row, "load": [round(x, 1) for x in os.getloadavg()]})
            print(json.dumps({"spares": spares, **rows[-1]}), flush=True)
            time.sleep(settle_s)
    finally:
        os.killpg(front.pid, signal.SIGTERM)
        front.wait(120)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--spares", default="0,2")
    parser.add_argument("--deploys", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=60)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-deploy-time-"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = {**stamp(), "commit": os.environ.get("BENCH_COMMIT") or commit(), "by_spares": {}}
    try:
        register(uri, args.model_dir, root)
        for spares in [int(s) for s in args.spares.split(",")]:
            result["by_spares"][str(spares)] = run(spares, args.deploys, args.settle_s, uri, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out["deploy_time"] = result
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
