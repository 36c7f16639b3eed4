"""Times the retraining DAG (Airflow 3, `airflow dags test`) against TFX's LocalDagRunner on the
same pipeline, settings and data, one after the other, each on a fresh ML Metadata store.

    .venv/airflow/bin/python bench/dag_vs_local_runner.py [--executor warm|process]

Run it with nothing else busy on the machine. Appends a line to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = REPO / ".venv" / "airflow" / "bin" / "airflow"
TFX_PYTHON = REPO / ".venv" / "tfx" / "bin" / "python"


def timed(cmd: list[str], env: dict, log: Path) -> float:
    t0 = time.monotonic()
    with open(log, "w") as out:
        status = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - t0
    if status.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed ({status.returncode}); see {log}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", default="warm", choices=["warm", "process"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(work / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        RETRAIN_STATE_DIR=str(work / "dag"),
        PYTHONPATH=str(REPO),
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, check=True)

    local_s = timed(
        [str(TFX_PYTHON), "bench/local_runner.py", str(work / "local")], env, work / "local.log"
    )
    conf = json.dumps({"executor": args.executor})
    dag_s = timed([str(AIRFLOW), "dags", "test", "retrain", "-c", conf], env, work / "dag.log")
    ratio = dag_s / local_s
    line = (
        f"| {datetime.date.today()} | {platform.node()} ({os.cpu_count()} cores) | "
        f"{args.executor} | {local_s:.0f} s | {dag_s:.0f} s | {ratio:.2f}x |"
    )
    print(
        f"LocalDagRunner {local_s:.1f} s, Airflow DAG ({args.executor}) {dag_s:.1f} s, "
        f"ratio {ratio:.2f}x (logs in {work})"
    )
    with open(REPO / "bench" / "RESULTS.md", "a") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main()
