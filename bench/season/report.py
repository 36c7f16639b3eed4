"""bench/season's numbers: holdout scores, the reference model, each run's difference against
the champion it replaced, the goals, the plot and RESULTS.md. numpy, pandas, scikit-learn and
matplotlib (the TFX environment has them)."""

from __future__ import annotations

from datetime import datetime

import numpy as np

# Holdout metrics, and whether higher is better.
METRICS = {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False, "accuracy": True}
DEFAULT = "roc_auc"


def number(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    begin, done = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    return round((done - begin).total_seconds(), 1)


def positive(frame) -> np.ndarray:
    """P(label 1) per row from the pyfunc's frame: its `probability_1` column (one per class),
    else, from a pyfunc without them, `class` and `probability` (the chosen class's)."""
    if "probability_1" in frame.columns:
        return frame["probability_1"].to_numpy(dtype=float)
    chosen = frame["probability"].to_numpy(dtype=float)
    return np.where(said_one(frame), chosen, 1.0 - chosen)


def said_one(frame) -> np.ndarray:
    """Whether the pyfunc's `class` is 1 (its decision, at the model's own threshold)."""
    return frame["class"].astype(str).isin(["1", "1.0", "True", "true"]).to_numpy()


def scores(y, p, decided=None) -> dict:
    """The holdout metrics of probabilities `p` of label 1; accuracy of the decisions `decided`
    (the model's own threshold), else of p >= 0.5."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    decided = p >= 0.5 if decided is None else np.asarray(decided, dtype=bool)
    return {
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "log_loss": round(float(log_loss(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "accuracy": round(float((decided == y).mean()), 4),
    }


def _features(frame, label: str):
    import pandas as pd

    x = pd.get_dummies(frame.drop(columns=[label]), columns=["plan"], dtype=float)
    return x.reindex(columns=sorted(x.columns), fill_value=0.0)


def reference(batch: list[list], holdout) -> dict:
    """A scikit-learn logistic regression trained on the week's batch, scored on the holdout."""
    import pandas as pd
    import stream
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(batch, columns=stream.COLUMNS)
    x = _features(frame, stream.LABEL)
    held = _features(holdout, stream.LABEL).reindex(columns=x.columns, fill_value=0.0)
    model = LogisticRegression(max_iter=2000).fit(x, frame[stream.LABEL])
    return scores(holdout[stream.LABEL], model.predict_proba(held)[:, 1])


def trivial(holdout_positive_share: float) -> dict:
    """The prior's scores: every row gets the share of positives."""
    return {"roc_auc": 0.5, "pr_auc": round(holdout_positive_share, 4)}


def metric_of(runs: list[dict]) -> str:
    """The holdout metric: the gate's (the first registered version's `gate.metric`) when it
    is one of METRICS, else ROC AUC."""
    for run in runs:
        name = (run.get("gate_metric") or "").lower()
        if name in METRICS or not name:
            if name:
                return name
            continue
        if "pr" in name and "auc" in name:
            return "pr_auc"
        for key in ("log_loss", "brier", "accuracy"):
            if key.split("_")[0] in name:
                return key
        if "auc" in name:
            return "roc_auc"
    return DEFAULT


def finish(runs: list[dict]) -> list[dict]:
    """Each run's holdout metric of its champion, its own version and the reference, and
    `holdout_vs_previous_champion`: the champion's metric minus the one it replaced (0 when
    @champion did not move; None before any champion)."""
    key = metric_of(runs)
    for run in runs:
        got = {k: (run.get(k) or {}).get(key) for k in ("champion_holdout", "challenger_holdout")}
        run["holdout_metric"] = key
        run["champion_metric"] = got["champion_holdout"]
        run["challenger_metric"] = got["challenger_holdout"]
        run["reference_metric"] = (run.get("reference_holdout") or {}).get(key)
        before = (run.get("previous_champion_holdout") or {}).get(key)
        now = run["champion_metric"]
        run["holdout_vs_previous_champion"] = (
            None if before is None or now is None else round(now - before, 4)
        )
    return runs


def flatness(runs: list[dict], keep_runs: int) -> dict:
    """Disk after retention, from the week retention first removed a run (`keep_runs` + 1):
    retention keeps at most keep_runs + 2 runs (the last `keep_runs`, the champion's and the
    challenger's when they are older), so the state may step up when the champion stops being
    one of the newest runs, and must then stay flat. Flat: at each number of runs kept, the
    total stays within 20% of its first value there. Also given: whether it stayed within 20%
    of the first week's total throughout (the check before the runs kept were recorded)."""
    settle = min(max(len(runs) - 1, 0), keep_runs + 1)
    totals = [round(sum(r["disk_mb"].values()), 2) for r in runs[settle:]]
    groups: dict = {}
    for r, total in zip(runs[settle:], totals, strict=True):
        groups.setdefault(r.get("retention", {}).get("runs_kept"), []).append(total)
    return {
        "met": bool(groups) and all(max(g) <= 1.2 * g[0] for g in groups.values()),
        "total_mb_by_runs_kept": {str(k): g for k, g in groups.items()},
        "within_20pct_of_the_first_steady_week": bool(totals) and max(totals) <= 1.2 * totals[0],
        "steady_from_week": runs[settle]["week"] if runs else None,
    }


def goals(result: dict) -> dict:
    """The season's four goals, each with the numbers behind it."""
    runs = result["runs"]
    key = runs[0]["holdout_metric"] if runs else DEFAULT
    higher = METRICS[key]
    worse = [
        {"week": r["week"], "diff": r["holdout_vs_previous_champion"]}
        for r in runs
        if r["promoted"]
        and r["holdout_vs_previous_champion"] is not None
        and (r["holdout_vs_previous_champion"] < 0) == higher
        and r["holdout_vs_previous_champion"] != 0
    ]
    season = result["season"]
    corrupted = [r for r in runs if r["kind"] == "corrupted"]
    shift = [r for r in runs if season["shift"] <= r["week"] <= season["shift"] + 1]
    return {
        "no_promoted_champion_worse_on_the_holdout": {"met": not worse, "worse": worse},
        "corrupted_batch_stopped": {
            "met": bool(corrupted) and not any(r["promoted"] for r in corrupted),
            "decisions": [r["decision"] for r in corrupted],
        },
        "shift_followed_within_one_run": {
            "met": any(r["promoted"] for r in shift),
            "promoted_weeks": [r["week"] for r in shift if r["promoted"]],
        },
        "disk_flat_after_retention": {
            **flatness(runs, result["retention"]["keep_runs"]),
            "total_mb_from_week": {r["week"]: round(sum(r["disk_mb"].values()), 1) for r in runs},
            "ml_metadata_mb": [r["disk_mb"]["ml_metadata"] for r in runs],
        },
    }


def _fmt(value, digits: int = 3) -> str:
    """A cell: None as a dash, booleans as yes/no, floats to `digits` places (a negative
    `digits`: that many places, with a sign)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:+.{-digits}f}" if digits < 0 else f"{value:.{digits}f}"
    return str(value)


def line(run: dict) -> str:
    return (
        f"week {run['week']} ({run['kind']}): {run['state']} in {run['wall_s']} s, "
        f"{run['decision']} (version {run['version']}), champion {run['champion_version']}, "
        f"holdout {run.get('holdout_metric')} {run.get('champion_metric')}, "
        f"disk {run['disk_mb']} MB"
    )


def plot(result: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    key = runs[0]["holdout_metric"] if runs else DEFAULT
    weeks = [r["week"] for r in runs]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.step(weeks, [r["champion_metric"] for r in runs], where="post", label="@champion", lw=2)
    for decision, style in (("champion", "o"), ("challenger", "s"), ("registered", "^")):
        pts = [(r["week"], r["challenger_metric"]) for r in runs if r["decision"] == decision]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, marker=style, zorder=3, label=f"this run's version: {decision}")
    ax.plot(weeks, [r["reference_metric"] for r in runs], "k--", lw=1, label="logistic regression")
    if key in ("roc_auc",):
        ax.axhline(0.5, color="grey", ls=":", lw=1, label="trivial baseline (prior)")
    season = result["season"]
    ax.axvline(season["shift"], color="tab:red", lw=1, alpha=0.5)
    ax.axvline(season["corrupt"], color="tab:purple", lw=1, alpha=0.5)
    ax.text(season["shift"], ax.get_ylim()[0], " shift", color="tab:red", va="bottom")
    ax.text(season["corrupt"], ax.get_ylim()[0], " corrupted", color="tab:purple", va="bottom")
    ax.set_xlabel("week (one DAG run each)")
    ax.set_ylabel(f"{key} on the future holdout")
    ax.set_title(f"A season of retraining ({result['date']}, seed {season['seed']})")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    runs, season = result["runs"], result["season"]
    key = runs[0]["holdout_metric"] if runs else DEFAULT
    out = [
        "# A season of retraining",
        "",
        f"- Date: {result['date']}; machine: {result['machine']} (shared, busy).",
        f"- Command: `{result['command']}`; wall time {result.get('wall_s', '–')} s.",
        f"- Season: {season}; settings: `{result['settings']}`; retention between runs: "
        f"`{result['retention']}`, keep_days 0.",
        f"- Holdout metric: {key} (higher is better: {METRICS[key]}), with the registered pyfunc; "
        "reference: a logistic regression trained on the same batch.",
        "",
        "| week | batch | rows | wall s | decision | gate metric: value (champion's) | promoted "
        f"| champion | champion {key} | vs previous | this run's {key} | reference | disk MB "
        "(root / MLflow / MLMD) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        gate = "–"
        if r.get("gate_metric"):
            value, theirs = _fmt(r.get("gate_value")), _fmt(r.get("gate_champion"))
            gate = f"{r['gate_metric']}: {value} ({theirs})"
        d = r["disk_mb"]
        out.append(
            f"| {r['week']} | {r['kind']} | {r['rows']} | {_fmt(r['wall_s'], 0)} | {r['decision']} "
            f"| {gate} | {_fmt(r['promoted'])} | {_fmt(r['champion_version'])} "
            f"| {_fmt(r['champion_metric'])} | {_fmt(r['holdout_vs_previous_champion'], -3)} "
            f"| {_fmt(r['challenger_metric'])} | {_fmt(r['reference_metric'])} "
            f"| {d['pipeline_root']} / {d['mlflow']} / {d['ml_metadata']} |"
        )
    out += ["", "Reasons (stopped, not blessed, kept as challenger):", ""]
    out += [f"- week {r['week']}: {r['reason']}" for r in runs if r.get("reason")]
    out += ["", "## Goals", ""]
    for name, goal in (result.get("goals") or {}).items():
        detail = {k: v for k, v in goal.items() if k != "met"}
        verdict = "met" if goal["met"] else "NOT met"
        out.append(f"- {name.replace('_', ' ')}: **{verdict}** {detail}")
    return "\n".join(out) + "\n"
