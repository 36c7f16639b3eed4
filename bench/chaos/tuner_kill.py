"""Chaos benchmark: kill -9 the Tuner node mid-trial and mid-epoch in many DAG runs.

    .venv/airflow/bin/python bench/chaos/tuner_kill.py --rounds 20 [--kinds mid-trial,mid-epoch]
        [--max-trials 6] [--max-skips 3] [--out bench/chaos/results.json]

Each round is one `airflow dags test retrain` (warm executor, Airflow retries with a 1 s delay)
whose Tuner process is killed once per kind; tests/airflow/chaos.py has the driver, and
tests/airflow/test_tuner_kill.py runs this script as the fast variant in `make test` (one round,
three kills over four trials, no skipped chances). Every round is checked
against one uninterrupted reference run with the same seed and data:

- the run succeeds, with one RETRAIN RETRY line per kill and no RETRAIN FAILED;
- every trial is reported finished exactly once (no finished trial ran again);
- the trials' architectures equal the reference's;
- the best score is within NOISE of the reference's.

Rounds share one state folder so the data nodes are served from ML Metadata's cache; each round
gets its own never-reached time budget so that its Tuner is not. Results go to
bench/chaos/results.json and are summarised in bench/chaos/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-chaos-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from tests.airflow import chaos  # noqa: E402
from tests.airflow.conftest import AIRFLOW  # noqa: E402

NOISE = 0.05


def check(run_id, state, log, kills, kinds, reference, max_trials) -> dict:
    out = {"run_id": run_id, "state": state, "kills": kills, "problems": []}
    problems = out["problems"]
    if [k["kind"] for k in kills] != kinds:
        problems.append(f"only {len(kills)} of {len(kinds)} kills landed")
    if state != "success":
        problems.append(f"run state {state}")
        return out
    retries = log.count("RETRAIN RETRY: node Tuner")
    if retries != len(kills):
        problems.append(f"{retries} retry lines for {len(kills)} kills")
    if "RETRAIN FAILED" in log:
        problems.append("a RETRAIN FAILED line")
    finished = chaos.finished_lines(log)
    redone = {t: n for t, n in finished.items() if n != 1}
    if redone:
        problems.append(f"trials reported finished more than once: {redone}")
    if len(finished) != max_trials:
        problems.append(f"{len(finished)} of {max_trials} trials finished")
    rows = chaos.leaderboard(log)
    if len({r["trial_id"] for r in rows}) != len(rows):
        problems.append("a trial is listed twice in the leaderboard")
    arch = {r["trial_id"]: r["architecture"] for r in rows}
    if arch != reference["arch"]:
        problems.append("architectures differ from the reference")
    best = max(rows, key=lambda r: r["score"])
    out.update(best_trial=best["trial_id"], best_score=best["score"])
    out["score_diff"] = round(abs(best["score"] - reference["best_score"]), 4)
    if out["score_diff"] > NOISE:
        problems.append(
            f"best score {best['score']:.4f} vs reference {reference['best_score']:.4f}"
        )
    out["resumed_trials"] = [
        r["trial_id"] for r in rows if str(r.get("start", "")).startswith("resumed")
    ]
    if not out["resumed_trials"]:
        problems.append("no trial resumed from its checkpoint")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--kinds", default="mid-trial,mid-epoch")
    parser.add_argument("--max-trials", type=int, default=chaos.CONF["max_trials"])
    parser.add_argument(
        "--max-skips", type=int, default=3, help="each kill lets 0 to this many chances go by"
    )
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    base = {**chaos.CONF, "max_trials": args.max_trials}
    import subprocess

    subprocess.run([AIRFLOW, "db", "migrate"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    state_dir = work / "state"
    t0 = time.time()
    ref = chaos.Run(base, state_dir, retries=0, log_path=work / "reference.log")
    ref_id, ref_state, ref_log = ref.finish(timeout=1800)
    if ref_state != "success":
        print(ref_log[-5000:])
        return 1
    rows = chaos.leaderboard(ref_log)
    best = max(rows, key=lambda r: r["score"])
    reference = {
        "run_id": ref_id,
        "arch": {r["trial_id"]: r["architecture"] for r in rows},
        "best_trial": best["trial_id"],
        "best_score": best["score"],
        "wall_s": round(time.time() - t0, 1),
    }
    print(f"reference: best trial {best['trial_id']} score {best['score']:.4f}", flush=True)
    results = []
    for i in range(args.rounds):
        t = time.time()
        conf = {**base, "time_budget_min": 30 + (i + 1) / 100}
        # each kill lets a few chances go by, so the rounds hit different trials and epochs
        skips = [
            random.Random(i * 100 + k).randrange(args.max_skips + 1) for k in range(len(kinds))
        ]
        run_id, state, log, kills = chaos.run_with_kills(
            state_dir, kinds, work / f"round-{i}.log", conf=conf, skips=skips
        )
        r = check(run_id, state, log, kills, kinds, reference, args.max_trials)
        r["wall_s"] = round(time.time() - t, 1)
        results.append(r)
        landed = [(k["kind"], k["trial"], k["epoch"]) for k in kills]
        verdict = "ok" if not r["problems"] else r["problems"]
        print(
            f"round {i + 1}/{args.rounds}: {verdict} kills={landed} best={r.get('best_score')} "
            f"diff={r.get('score_diff')} {r['wall_s']}s",
            flush=True,
        )
    summary = {
        "rounds": len(results),
        "ok": sum(not r["problems"] for r in results),
        "kills_landed": sum(len(r["kills"]) for r in results),
        "kills_planned": len(kinds) * len(results),
        "max_score_diff": max((r.get("score_diff") or 0) for r in results) if results else None,
        "noise": NOISE,
        "conf": base,
        "settings": chaos.SETTINGS,
        "reference": {k: v for k, v in reference.items() if k != "arch"},
        "results": results,
        **stamp(),
    }
    Path(args.out).write_text(json.dumps(summary, indent=1, sort_keys=True))
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, sort_keys=True))
    return 0 if summary["ok"] == summary["rounds"] else 1


if __name__ == "__main__":
    sys.exit(main())
