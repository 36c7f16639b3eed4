"""Times the retraining DAG (Airflow 3, `airflow dags test`) against TFX's LocalDagRunner on the
same pipeline, settings and data: `--runs` runs per side in alternating order (local first, then
the DAG first, ...), each on a fresh ML Metadata store (and a fresh Airflow database for the
DAG), plus a per-node table: each node's execution in ML Metadata (driver, executor, publisher)
on both sides and, for the DAG, the Airflow task around it; the difference is the per-node
overhead of the DAG (Airflow's task start, the node runner, the warm executor's fork).

    .venv/airflow/bin/python bench/dag_vs_local_runner.py [--executor warm|process] [--runs 3]

Run it with nothing else busy on the machine. Writes bench/dag_vs_local_runner.json and prints
the Markdown tables that bench/RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import node_seconds, stamp  # noqa: E402
from core import envs  # noqa: E402

AIRFLOW, TFX_PYTHON = envs.AIRFLOW, envs.tfx_python()
OUT = REPO / "bench" / "dag_vs_local_runner.json"


def timed(cmd: list, env: dict, log: Path) -> float:
    t0 = time.monotonic()
    with open(log, "w") as out:
        status = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - t0
    if status.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd[:4]))} failed ({status.returncode}); see {log}")
    return elapsed


def task_seconds(airflow_db: Path) -> dict[str, float]:
    """Each Airflow task's wall time (the DAG's node tasks are named after the nodes)."""
    with sqlite3.connect(airflow_db) as db:
        rows = db.execute(
            "SELECT task_id, start_date, end_date FROM task_instance WHERE end_date IS NOT NULL"
        ).fetchall()
    parse = datetime.datetime.fromisoformat
    return {t: (parse(end) - parse(start)).total_seconds() for t, start, end in rows}


def local_run(work: Path, env: dict, settings: dict) -> dict:
    state = work / "local"
    cmd = [TFX_PYTHON, "bench/local_runner.py", state, json.dumps(settings)]
    wall = timed(cmd, env, work / "local.log")
    return {"wall_s": wall, "nodes": node_seconds(state / "metadata.sqlite")}


def dag_run(work: Path, env: dict, executor: str, settings: dict) -> dict:
    env = dict(env, AIRFLOW_HOME=str(work / "airflow"), RETRAIN_STATE_DIR=str(work / "dag"))
    if settings:
        env["RETRAIN_SETTINGS"] = json.dumps(settings)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, check=True)
    conf = json.dumps({"executor": executor})
    wall = timed([AIRFLOW, "dags", "test", "retrain", "-c", conf], env, work / "dag.log")
    stores = list((work / "dag").rglob("metadata.sqlite"))
    return {
        "wall_s": wall,
        "nodes": node_seconds(stores[0]),
        "tasks": task_seconds(work / "airflow" / "airflow.db"),
    }


def tables(runs: list[dict]) -> str:
    local = [r for r in runs if r["side"] == "local"]
    dag = [r for r in runs if r["side"] == "dag"]
    med = statistics.median
    lines = [
        "| run | order | LocalDagRunner | Airflow DAG | ratio |",
        "|-----|-------|---------------:|------------:|------:|",
    ]
    for i, (lo, da) in enumerate(zip(local, dag, strict=True), 1):
        order = "local, DAG" if lo["order"] < da["order"] else "DAG, local"
        ratio = da["wall_s"] / lo["wall_s"]
        lines.append(
            f"| {i} | {order} | {lo['wall_s']:.0f} s | {da['wall_s']:.0f} s | {ratio:.2f}x |"
        )
    lo_m, da_m = med(r["wall_s"] for r in local), med(r["wall_s"] for r in dag)
    lines.append(f"| median | | {lo_m:.0f} s | {da_m:.0f} s | {da_m / lo_m:.2f}x |")
    lines += [
        "",
        "| node | local execution | DAG execution | DAG task | task - execution |",
        "|------|----------------:|--------------:|---------:|-----------------:|",
    ]
    for node in sorted(local[0]["nodes"], key=lambda n: min(r["nodes"].get(n, 0) for r in local)):
        lo_n = med(r["nodes"].get(node, 0) for r in local)
        da_n = med(r["nodes"].get(node, 0) for r in dag)
        task = [r["tasks"][t] for r in dag for t in r["tasks"] if t.lower() == node.lower()]
        if not task:
            lines.append(f"| {node} | {lo_n:.1f} | {da_n:.1f} | - | - |")
            continue
        lines.append(
            f"| {node} | {lo_n:.1f} | {da_n:.1f} | {med(task):.1f} | {med(task) - da_n:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", default="warm", choices=["warm", "process"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settings", default="{}", help="settings for both sides (JSON)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    settings = json.loads(args.settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RETRAIN_"))}
    env.update(
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=str(REPO),
    )
    runs, order = [], 0
    for i in range(args.runs):
        sides = ["local", "dag"] if i % 2 == 0 else ["dag", "local"]
        for side in sides:
            work = Path(tempfile.mkdtemp(prefix=f"bench-{side}-"))
            if side == "local":
                run = local_run(work, env, settings)
            else:
                run = dag_run(work, env, args.executor, settings)
            runs.append({"side": side, "order": order, "work": str(work), **run})
            print(f"run {i + 1} {side}: {run['wall_s']:.1f} s ({work})", flush=True)
            order += 1
    result = {
        **stamp(),
        "executor": args.executor,
        "settings": settings,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(tables(runs))


if __name__ == "__main__":
    main()
