"""bench/rare/RESULTS.md from bench/rare/results.json (bench/rare/run.py writes both)."""

from __future__ import annotations

import numpy as np

MODELS = ("none", "class_weight", "balanced_sampling", "logistic_regression", "hgb")
METRICS = ("pr_auc", "roc_auc", "recall", "precision", "f1", "log_loss")


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| positives | seed | prior PR AUC | model | PR AUC | ROC AUC | recall | precision | F1 "
        "| log loss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for m in MODELS:
            cells = " | ".join(f"{r[m][k]:.3f}" for k in METRICS)
            lines.append(
                f"| {r['share']:.0%} | {r['seed']} | {r['prior_pr_auc']:.3f} | {m} | {cells} |"
            )
    return lines


def _means(rows: list[dict]) -> list[str]:
    lines = [
        "| positives | model | PR AUC | ROC AUC | recall | precision | F1 | log loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for share in sorted({r["share"] for r in rows}):
        mine = [r for r in rows if r["share"] == share]
        for m in MODELS:
            cells = " | ".join(f"{np.mean([r[m][k] for r in mine]):.3f}" for k in METRICS)
            lines.append(f"| {share:.0%} | {m} | {cells} |")
    return lines


def markdown(results: dict) -> str:
    reported = results["reported"]
    seeds = sorted({r["seed"] for r in reported})
    lines = [
        "# Rare classes: class weights, balanced sampling or neither",
        "",
        f"Measured {results['date']} on {results['machine']}, with "
        f"`.venv/tfx/bin/python {results['command']}`.",
        "",
        "The same Keras network trains on a generated binary table (20,000 training rows, labels "
        "from a random teacher network) for the same number of passes: unweighted (`none`), "
        "with class weights n / (k x class rows) (`class_weight`, what the engine's knob does), "
        "or on batches drawn half from each class (`balanced_sampling`). Each threshold is "
        "chosen on 5,000 validation rows by best F1, as the Trainer does; every figure is on "
        "20,000 fresh rows. Beside them, fitted on the same rows: scikit-learn's "
        "LogisticRegression and HistGradientBoostingClassifier, and the trivial baseline "
        "(its PR AUC is the positive share).",
        "",
        f"## Means over the reported seeds ({', '.join(map(str, seeds))})",
        "",
        *_means(reported),
        "",
        "## Every reported seed",
        "",
        *_table(reported),
        "",
        "## Development seeds (what the default was chosen on)",
        "",
        *_means(results["development"]),
        "",
    ]
    return "\n".join(lines)
