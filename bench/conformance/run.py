"""The conformance run: every dataset of the corpus (bench/conformance/corpus.py) through the
product's path, `make run DATA=<its folder>` (the generic `retrain` DAG under `airflow dags
test`), on small budgets; then the registered `models:/<name>@champion` pyfunc on raw rows of
the dataset.

    make conformance [ARGS='--only iris,signals --force']
    .venv/tfx/bin/python bench/conformance/run.py [--only NAME[,NAME]] [--force] [--root DIR]
        [--epochs N] [--max-trials N] [--report DIR]

Each dataset gets a fresh data folder and a state directory of its own (ML Metadata, pipeline
root, its own MLflow store and registry) under --root (default .local/conformance/), which may
lie anywhere (make run trusts the folder it is given); one Airflow home serves them all. A
dataset whose row is already in ROOT/results.json, run on the same budget, is skipped unless
--force; a failure is recorded (the node and its one-line error) and the run goes on. After
each dataset, bench/conformance/RESULTS.md and results.json are rewritten from
ROOT/results.json.
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.conformance import corpus, kinds, report  # noqa: E402
from core import envs  # noqa: E402

HERE = REPO / "bench" / "conformance"
# make run, on environments already set up (make conformance's setup, or the test's own).
MAKE_RUN = [
    "make",
    "--no-print-directory",
    "-o",
    ".venv/airflow/.synced",
    "-o",
    ".venv/tfx/.synced",
]
TFX_PYTHON = envs.tfx_python()
NODES = 11  # the pipeline's nodes (dags/retrain_support/builder.py: NODES)
# The small budget every dataset runs on (Params of the generic DAG).
BUDGET = {
    "mode": "full",
    "max_trials": 2,
    "epochs": 5,
    "time_budget_min": 10,
    "explain": False,
}
# Operator settings ($RETRAIN_SETTINGS): no TFLite files.
OPERATOR = {"edge_export": False}
# The deployment's knobs that would take a run elsewhere: not inherited.
DROPPED_ENV = (
    "MLFLOW_TRACKING_URI",
    "RETRAIN_SETTINGS",
    "RETRAIN_MLMD_URI",
    "RETRAIN_CONTAINERS",
    "RETRAIN_DATASETS",
    "RETRAIN_BEAM_ARGS",
)
FINISHED = re.compile(r"DagRun Finished: dag_id=retrain, .*? run_id=([^,]+),.*? state=(\w+)")
# builder.report_failure's line; Airflow's log adds " [logger] loc=file:line" after it.
FAILED = re.compile(
    r"RETRAIN FAILED: node (\S+) of \S+ run \S+ \(try \d+\): (.*?)(?:\s+\[[\w.]+\]\s+loc=\S+)?$",
    re.M,
)
READY = re.compile(r"warm executor pid (\d+) ready on")
# make run's task states: "  <task id>  <state>" lines between these two headers.
STATES = re.compile(r"^== task states.*?\n(.*?)^== pipeline", re.M | re.S)


def airflow_env(root: Path, state: Path) -> dict:
    # Not the calling make's flags either (make test's jobserver): make run is a make of its own.
    dropped = (*DROPPED_ENV, "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        AIRFLOW_HOME=str(root / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        RETRAIN_STATE_DIR=str(state),
        RETRAIN_SCHEDULE="none",
        RETRAIN_SETTINGS=json.dumps(OPERATOR),
        RETRAIN_RETRY_DELAY_S="10",
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
        time.sleep(5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def dags_test(
    entry: corpus.Entry, data: str, root: Path, state: Path, timeout: float, env: dict
) -> dict:
    """`make run DATA=<data>` on the dataset; {run_id, state, task_states, wall_s, log, ...}."""
    params = {**BUDGET, **entry.params}
    conf = {**BUDGET, "data": str(data), **entry.params}
    out_path = root / "logs" / f"{entry.name}.log"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [*MAKE_RUN, "run", f"DATA={data}", f"CONF={json.dumps(params)}"],
            env={**airflow_env(root, state), **env},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(proc.pid)
    wall = time.monotonic() - t0
    # make run's own lines, then the DAG run's log (its state folder is fresh: one log).
    made = out_path.read_text(errors="replace")
    logs = sorted((state / "logs").glob("make-run-*.log"))
    text = logs[-1].read_text(errors="replace") if logs else made
    if timed_out:  # the warm executor runs in a session of its own: stop it too
        for pid in READY.findall(text):
            _stop_group(int(pid))
    found = FINISHED.findall(text)
    run_id, dag_state = found[-1] if found else (None, "timeout" if timed_out else "unfinished")
    failures = [{"node": n, "error": e.strip()[:400]} for n, e in FAILED.findall(text)]
    states = STATES.search(made)
    return {
        "conf": conf,
        "run_id": run_id,
        "dag_state": dag_state,
        "task_states": dict(
            ln.split() for ln in (states.group(1) if states else "").splitlines() if ln.strip()
        ),
        "wall_s": round(wall, 1),
        "log": str(logs[-1] if logs else out_path),
        "failures": failures,
        "tail": "" if found else _last_line(made if not logs else text),
    }


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip()[:400] if lines else "no output"


def check(
    state: Path, run_id: str, data: str, kind: str, label: str | None, timeout: float = 900
) -> dict:
    """bench/conformance/check.py in the TFX environment: its CHECK object."""
    t0 = time.monotonic()
    try:
        out = subprocess.run(
            [str(TFX_PYTHON), "-m", "bench.conformance.check", "--state", str(state)]
            + ["--run-id", run_id, "--data", str(data)]
            + (["--kind", kind] if kind else [])
            + (["--label", label] if label else []),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"check_error": f"check timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("CHECK ")]
    if not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"check_error": f"exit {out.returncode}: {tail[:400]}"}
    return {**json.loads(lines[-1][len("CHECK ") :]), "check_s": round(time.monotonic() - t0, 1)}


def run_one(entry: corpus.Entry, root: Path, timeout: float) -> dict:
    data, state = root / "data" / entry.name, root / "state" / entry.name
    rows = corpus.write(entry, data)
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    kind = entry.name if entry.name in kinds.KINDS else ""
    with kinds.source(entry.name, data) as (source, env):  # a folder, or a server's table
        dag = dags_test(entry, source, root, state, timeout, env)
        node_states = {k: v for k, v in dag["task_states"].items() if k in report.NODE_ORDER}
        result = {
            "name": entry.name,
            "started": started,
            "rows": rows,
            **dag,
            "nodes_passed": sum(v == "success" for v in node_states.values()),
        }
        if dag["run_id"]:
            result.update(check(state, dag["run_id"], source, kind, entry.params.get("label")))
    return result


def recorded(r: dict | None, entry: corpus.Entry) -> bool:
    """Whether `r` is a finished run of `entry` on the current budget (another budget's row,
    or a row the runner could not finish, is run again)."""
    if not r or "runner_error" in r:
        return False
    conf = r.get("conf", {})
    return all(conf.get(k) == v for k, v in {**BUDGET, **entry.params}.items())


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, results: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True, default=str))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/conformance/run.py", description=__doc__)
    parser.add_argument("--only", default="", help="NAME[,NAME]: these datasets only")
    parser.add_argument("--force", action="store_true", help="run datasets already recorded")
    parser.add_argument("--root", default=str(REPO / ".local" / "conformance"))
    parser.add_argument("--timeout", type=float, default=2400, help="seconds per DAG run")
    parser.add_argument("--list", action="store_true", help="list the corpus and exit")
    parser.add_argument("--epochs", type=int, default=BUDGET["epochs"])
    parser.add_argument("--max-trials", type=int, default=BUDGET["max_trials"])
    parser.add_argument(
        "--report",
        default=str(HERE),
        help="folder of RESULTS.md and results.json (the smoke test's)",
    )
    args = parser.parse_args(argv)
    report_dir = Path(args.report)
    BUDGET.update(epochs=args.epochs, max_trials=args.max_trials)
    if args.list:
        for e in corpus.CORPUS:
            print(f"{e.name:<14} {e.kind:<7} {e.format:<15} {e.task:<15} {e.label_type}")
        return 0
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in corpus.BY_NAME]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; the corpus: {', '.join(corpus.BY_NAME)}")
    chosen = [corpus.BY_NAME[n] for n in names] if names else corpus.CORPUS
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    results_path = root / "results.json"
    results = load(results_path)
    t0 = time.monotonic()
    for entry in chosen:
        if recorded(results.get(entry.name), entry) and not args.force:
            print(report.line(entry, results[entry.name], "recorded"), flush=True)
            continue
        print(f"{entry.name}: running ({entry.kind}, {entry.format}) ...", flush=True)
        try:
            results[entry.name] = run_one(entry, root, args.timeout)
        except Exception as e:  # noqa: BLE001 (one dataset's trouble never stops the run)
            results[entry.name] = {"name": entry.name, "runner_error": f"{type(e).__name__}: {e}"}
        save(results_path, results)
        report.write(results, report_dir, BUDGET, OPERATOR)
        print(report.line(entry, results[entry.name]), flush=True)
    report.write(results, report_dir, BUDGET, OPERATOR)
    done = [results[e.name] for e in chosen if e.name in results]
    good = sum(report.conforms(r) for r in done)
    print(
        f"conformance: {good} of {len(chosen)} datasets registered a champion whose pyfunc "
        f"predicts raw rows ({time.monotonic() - t0:.0f} s); bench/conformance/RESULTS.md"
    )
    return 0 if good == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
