"""Model-quality metrics as the gate computes them: one function per metric, each taking the
labels, the model's outputs and per-row weights (a bootstrap round's counts, or ones), so a
paired bootstrap reuses the same code on resampled rows without copying them.

Outputs are what the serving model returns: an [n, classes] probability array for
classification (binary: class 1 is the positive class), an [n] array of values for regression.
Rows are presorted once per model for the ranking metrics (`Ranked`), so each bootstrap round
costs O(n).

`kind(task, n_classes)` names the metric family: "binary", "multiclass" or "regression";
`METRICS[family]` lists each family's metrics with their direction. numpy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

EPS = 1e-7


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric: its name, whether higher is better, and what it means in one line."""

    name: str
    higher_is_better: bool
    doc: str


def _family(*table: tuple[str, bool, str]) -> dict[str, Metric]:
    return {name: Metric(name, higher, doc) for name, higher, doc in table}


LOG_LOSS = ("log_loss", False, "mean negative log-likelihood of the true class")
METRICS: dict[str, dict[str, Metric]] = {
    "binary": _family(
        ("pr_auc", True, "area under the precision-recall curve (average precision)"),
        ("roc_auc", True, "area under the ROC curve"),
        LOG_LOSS,
        ("brier", False, "mean squared error of the positive class's probability"),
        ("f1", True, "F1 of the positive class at the model's decision threshold"),
        ("precision", True, "precision at the model's decision threshold"),
        ("recall", True, "recall at the model's decision threshold"),
        ("accuracy", True, "share of rows whose class is right at the threshold"),
    ),
    "multiclass": _family(
        LOG_LOSS,
        ("macro_f1", True, "F1 averaged over the classes, each counting the same"),
        ("accuracy", True, "share of rows whose most probable class is right"),
    ),
    "regression": _family(
        ("rmse", False, "root mean squared error"),
        ("mae", False, "mean absolute error"),
        ("r2", True, "1 - squared error / the test labels' variance"),
    ),
}
# The gate's default metric per family (core/gate.py; an operator setting may choose another).
DEFAULT_GATE = {"binary": "pr_auc", "multiclass": "log_loss", "regression": "rmse"}


def kind(task: str, n_classes: int = 0) -> str:
    """The metric family of a task: regression, or binary / multi-class classification."""
    if task == "regression":
        return "regression"
    return "binary" if n_classes <= 2 else "multiclass"


def all_names() -> list[str]:
    """Every metric name of every family, once each."""
    return sorted({name for family in METRICS.values() for name in family})


@dataclasses.dataclass
class Ranked:
    """Labels and positive-class scores sorted by descending score once, with the bounds of
    each group of tied scores: what the ranking metrics need for any row weights."""

    order: np.ndarray
    y: np.ndarray  # 1 for a positive row, in sorted order
    starts: np.ndarray  # the first sorted index of each tie group

    @classmethod
    def of(cls, y, score) -> Ranked:
        order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
        s = np.asarray(score, dtype=float)[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return cls(order, (np.asarray(y)[order] == 1).astype(float), starts)

    def groups(self, w):
        """(positive weight, negative weight) per tie group, for row weights `w`."""
        w = np.asarray(w, dtype=float)[self.order]
        pos = np.add.reduceat(w * self.y, self.starts)
        neg = np.add.reduceat(w * (1 - self.y), self.starts)
        return pos, neg


def roc_auc(ranked: Ranked, w) -> float:
    """Weighted Mann-Whitney: the chance a positive outranks a negative (ties count half)."""
    pos, neg = ranked.groups(w)
    p_total, n_total = pos.sum(), neg.sum()
    if p_total <= 0 or n_total <= 0:
        return float("nan")
    below = n_total - np.cumsum(neg)  # negatives scored lower than each group
    return float(np.sum(pos * (below + 0.5 * neg)) / (p_total * n_total))


def pr_auc(ranked: Ranked, w) -> float:
    """Average precision: precision at each threshold, weighted by the recall it adds."""
    pos, neg = ranked.groups(w)
    p_total = pos.sum()
    if p_total <= 0:
        return float("nan")
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    precision = tp / np.maximum(tp + fp, EPS)
    return float(np.sum(precision * pos) / p_total)


def _mean(values, w) -> float:
    w = np.asarray(w, dtype=float)
    return float(np.sum(np.asarray(values, dtype=float) * w) / max(w.sum(), EPS))


def log_loss(y, probs, w) -> float:
    p = np.clip(probs[np.arange(len(y)), y], EPS, 1.0)
    return _mean(-np.log(p), w)


def confusion(y, predicted, w, n_classes: int) -> np.ndarray:
    """Weighted [true, predicted] counts."""
    index = np.asarray(y) * n_classes + np.asarray(predicted)
    flat = np.bincount(index, weights=np.asarray(w, dtype=float), minlength=n_classes**2)
    return flat.reshape(n_classes, n_classes)


def _f1s(matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1, (predicted > 0) | (actual > 0)


def binary_at(y, p, threshold: float, w) -> dict[str, float]:
    """Precision, recall, F1 and accuracy of the positive class at `threshold`."""
    predicted = (np.asarray(p) >= threshold).astype(int)
    precision, recall, f1, _ = _f1s(confusion(y, predicted, w, 2))
    return {
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "f1": float(f1[1]),
        "accuracy": _mean(predicted == np.asarray(y), w),
    }


def compute(family: str, y, outputs, w=None, threshold: float = 0.5, ranked=None) -> dict:
    """Every metric of `family` for labels `y` and `outputs`, with row weights `w` (None: each
    row once). `ranked`: the outputs' `Ranked`, when the caller keeps it across rounds."""
    y = np.asarray(y)
    w = np.ones(len(y)) if w is None else w
    if family == "regression":
        pred = np.asarray(outputs, dtype=float).reshape(-1)
        err = pred - y.astype(float)
        mean_y = _mean(y, w)
        total = _mean((y - mean_y) ** 2, w)
        mse = _mean(err**2, w)
        return {
            "rmse": float(np.sqrt(mse)),
            "mae": _mean(np.abs(err), w),
            "r2": float(1 - mse / total) if total > 0 else float("nan"),
        }
    probs = np.asarray(outputs, dtype=float)
    y = y.astype(int)
    if family == "binary":
        p = probs[:, 1]
        ranked = ranked or Ranked.of(y, p)
        out = {
            "pr_auc": pr_auc(ranked, w),
            "roc_auc": roc_auc(ranked, w),
            "log_loss": log_loss(y, probs, w),
            "brier": _mean((p - y) ** 2, w),
        }
        return out | binary_at(y, p, threshold, w)
    n = probs.shape[1]
    _, _, f1, present = _f1s(confusion(y, probs.argmax(axis=1), w, n))
    return {
        "log_loss": log_loss(y, probs, w),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": _mean(probs.argmax(axis=1) == y, w),
    }


def choose_threshold(y, p, rule: str = "best_f1") -> tuple[float, str]:
    """The positive class's decision threshold chosen on (validation) rows: `best_f1` (the
    threshold of the highest F1), `recall:R` (the highest threshold whose recall is at least R)
    or `precision:P` (the lowest threshold whose precision is at least P; else best F1).
    Returns (threshold, a line saying how it was chosen)."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    ranked = Ranked.of(y, p)
    pos, neg = ranked.groups(np.ones(len(y)))
    scores = p[ranked.order][ranked.starts]  # each tie group's score, descending
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    positives = max(pos.sum(), EPS)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, EPS)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, EPS), 0.0)
    if not len(scores) or pos.sum() == 0:
        return 0.5, "0.5 (no positive rows to choose on)"
    name, _, target = rule.partition(":")
    if name == "recall":
        i = int(np.argmax(recall >= float(target) - 1e-12))
        return float(scores[i]), f"{scores[i]:.4f}: recall {recall[i]:.3f} >= {target}"
    if name == "precision":
        ok = np.flatnonzero(precision >= float(target) - 1e-12)
        if len(ok):
            i = int(ok[-1])
            return float(scores[i]), f"{scores[i]:.4f}: precision {precision[i]:.3f} >= {target}"
    i = int(np.argmax(f1))
    why = "best F1" if name == "best_f1" else f"best F1 (no threshold reaches {rule})"
    return float(scores[i]), f"{scores[i]:.4f}: {why} {f1[i]:.3f} on {len(y)} rows"
