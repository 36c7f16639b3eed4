"""The NAS leaderboard of a run, read from MLflow: `make leaderboard [RUN=<run id>]`.

Every search logs one MLflow run (tag `nas.role=search`, `tfx_pipeline_run_id` = the Airflow
DAG run id) with its leaderboard as the artifact `search/leaderboard.json`. This lists the
candidates of the latest finished search, or of the run named by --run: rank, trial, score,
parameter count, compute (training examples seen), a Pareto mark (no other candidate is both
better and smaller), and the architecture summary (layers, optimizer, learning rate).
--json prints the rows whole, each with its architecture JSON, which rebuilds the candidate:
`get_space(space, input_spec).build_model(Architecture.from_json(row["architecture"]))`.

    .venv/tfx/bin/python -m pipelines.leaderboard [--run RUN_ID] [--list] [--json] [--top N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from components.nas_tuner.history import LeaderboardError, load, searches
from core import names


def defaults() -> tuple[str, str]:
    """(tracking URI, experiment) of the pipeline's default settings."""
    from pipelines.settings import Settings

    s = Settings()
    return s.tracking()[0], s.nas_experiment


def format_table(rows: list[dict], top: int | None = None) -> str:
    lines = [
        f"{'rank':>4}  {'trial':>5}  {'score':>7}  {'params':>9}  {'compute':>10}  "
        "pareto  architecture"
    ]
    for r in rows[:top] if top else rows:
        score = "-" if r.get("score") is None else f"{r['score']:.4f}"
        params = "-" if r.get("params") is None else f"{r['params']:,}"
        rank = "-" if r.get("rank") is None else str(r["rank"])
        status = "" if r.get("status") == "completed" else f"[{r.get('status')}] "
        if r.get("seed"):  # a warm start's seeded candidate (or the space's first)
            status += f"[seed: {r['seed']}] "
        if r.get("score_mean") is not None:  # re-evaluated: the winner is chosen on the mean
            status += (
                f"[mean {r['score_mean']:.4f} +- {r['score_std']:.4f} over {r['score_runs']} runs] "
            )
        lines.append(
            f"{rank:>4}  {str(r['trial_id']):>5}  {score:>7}  {params:>9}  "
            f"{r.get('examples_seen') or 0:>10,}  {'  *   ' if r.get('pareto') else '      '}  "
            f"{status}{r.get('summary') or ''}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="Airflow DAG run id (TFX pipeline run id); default: the latest")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", ""))
    p.add_argument("--experiment", default="", help="default: the pipeline's (retrain-nas)")
    p.add_argument("--list", action="store_true", help="list the recent searches instead")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--top", type=int, default=None, help="only the N best")
    args = p.parse_args(argv)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from core import tracking

    tracking_uri, experiment = defaults()
    client = tracking.client(args.tracking_uri or tracking_uri)
    args.experiment = args.experiment or experiment
    try:
        if args.list:
            print(f"{'pipeline run':<44} {'status':<9} {'trials':>6} {'best':>7}  started")
            for r in searches(client, args.experiment, args.run):
                m = r.data.metrics
                best = f"{m['best_score']:.4f}" if "best_score" in m else "-"
                trials = f"{int(m['trials'])}" if "trials" in m else "-"
                started = datetime.datetime.fromtimestamp(r.info.start_time / 1000)
                run_id = r.data.tags.get(names.TAG_PIPELINE_RUN, r.info.run_id)
                when = f"{started:%Y-%m-%d %H:%M:%S}"
                print(f"{run_id:<44} {r.info.status:<9} {trials:>6} {best:>7}  {when}")
            return 0
        search, rows = load(client, args.experiment, args.run)
    except LeaderboardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows[: args.top] if args.top else rows, indent=1))
        return 0
    tags = search.data.tags
    print(
        f"NAS leaderboard of run {tags.get(names.TAG_PIPELINE_RUN, '?')} "
        f"(space={tags.get(names.TAG_NAS_SPACE)}, strategy={tags.get(names.TAG_NAS_STRATEGY)}, "
        f"MLflow run {search.info.run_id}); compute = training examples seen; "
        "* = Pareto front of score and parameter count"
    )
    print(format_table(rows, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
