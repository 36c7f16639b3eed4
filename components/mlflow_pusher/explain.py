"""Feature importance of a model on raw rows: permutation importance and Shapley values.

Both methods see the model as a function `predict(rows) -> outputs` over raw feature columns
(a pandas DataFrame, as the pyfunc takes them), so the Transform graph is inside: importance is
about the columns users have, not the transformed tensors.

- Permutation importance: how much the score drops when one column is shuffled (the mean over
  `repeats` shuffles, with its standard deviation); a tensor column (a 1-D signal or an image
  per cell) is shuffled whole, rows swapping their signals. The score is the task's (`Task.score`,
  core/tasks.py): accuracy for classification, the negative RMSE for regression.
- Shapley values: SHAP's model-agnostic KernelExplainer on a small background sample; the
  importance of a column is its mean |SHAP value| over the explained rows (and the classes).
  Categorical columns are handed to SHAP as integer codes and decoded before `predict`; a tensor
  column as the index of its row, so SHAP replaces a whole signal or image with a background
  row's.

No TensorFlow here: the pusher passes a `predict` built on the serving SavedModel, the tests a
plain Keras model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from core import tasks

Predict = Callable[[pd.DataFrame], np.ndarray]
COLUMNS = ("feature", "permutation", "permutation_std", "shap", "permutation_rank", "shap_rank")


class ExplainError(ValueError):
    """The rows cannot be explained (no rows, no features, labels missing)."""


def score(task: str | tasks.Task, y: np.ndarray, outputs: np.ndarray) -> float:
    """The task's score (a name or a core.tasks Task); higher is better."""
    return tasks.get(task).score(y, outputs)


def permutation_importance(
    predict: Predict,
    rows: pd.DataFrame,
    y: np.ndarray,
    task: str | tasks.Task,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Column -> (mean drop of the score when that column is shuffled, its std)."""
    rng = np.random.default_rng(seed)
    base = score(task, y, predict(rows))
    out = {}
    for col in rows.columns:
        drops = []
        for _ in range(repeats):
            shuffled = rows.copy()
            shuffled[col] = rng.permutation(rows[col].to_numpy())
            drops.append(base - score(task, y, predict(shuffled)))
        out[col] = (float(np.mean(drops)), float(np.std(drops)))
    return out


def _present(v) -> bool:
    """Not a missing cell (None, NaN); a tensor cell (list, array, bytes) is present."""
    if isinstance(v, (list, tuple, np.ndarray, bytes)):
        return True
    return v is not None and v == v


def _codec(rows: pd.DataFrame):
    """(numeric matrix, decode): text columns become category codes, tensor columns (a list,
    array or encoded image per cell) the index of the row whose cell it is, so SHAP moves a
    tensor whole; -1: missing."""
    objects = [c for c in rows.columns if rows[c].dtype == object]
    tensors = {
        c for c in objects if any(isinstance(v, (list, tuple, np.ndarray, bytes)) for v in rows[c])
    }
    categories = {
        c: sorted({str(v) for v in rows[c] if _present(v)}) for c in objects if c not in tensors
    }
    matrix = np.empty(rows.shape, dtype=float)
    for j, col in enumerate(rows.columns):
        if col in tensors:
            matrix[:, j] = [i if _present(v) else -1 for i, v in enumerate(rows[col])]
        elif col in categories:
            index = {v: i for i, v in enumerate(categories[col])}
            matrix[:, j] = [index[str(v)] if _present(v) else -1 for v in rows[col]]
        else:
            matrix[:, j] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float)

    def decode(m: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, col in enumerate(rows.columns):
            if col in tensors:
                cells = rows[col].tolist()
                data[col] = [cells[int(v)] if v >= 0 else None for v in m[:, j]]
            elif col in categories:
                names = categories[col]
                data[col] = [names[int(v)] if v >= 0 else None for v in m[:, j]]
            else:
                data[col] = m[:, j]
        return pd.DataFrame(data, columns=rows.columns)

    return matrix, decode


def shapley(
    predict: Predict, rows: pd.DataFrame, background: int = 20, explained: int = 30, seed: int = 0
) -> dict[str, float]:
    """Column -> mean |SHAP value| (KernelExplainer), over `explained` rows and all outputs."""
    import shap

    rng = np.random.default_rng(seed)
    matrix, decode = _codec(rows)
    bg = matrix[rng.choice(len(matrix), min(background, len(matrix)), replace=False)]
    ex = matrix[rng.choice(len(matrix), min(explained, len(matrix)), replace=False)]

    def f(m):
        out = np.asarray(predict(decode(m)), dtype=float)
        return out.reshape(len(m), -1) if out.ndim > 1 and out.shape[1] > 1 else out.reshape(-1)

    values = shap.KernelExplainer(f, bg).shap_values(ex, silent=True)
    values = np.abs(np.stack(values, axis=-1) if isinstance(values, list) else values)
    # [rows, features] or [rows, features, outputs] -> one number per feature
    per_feature = values.mean(axis=0)
    if per_feature.ndim > 1:
        per_feature = per_feature.sum(axis=-1)
    return {col: float(per_feature[j]) for j, col in enumerate(rows.columns)}


def explain(
    predict: Predict,
    rows: pd.DataFrame,
    y,
    task: str | tasks.Task = tasks.CLASSIFICATION,
    repeats: int = 3,
    background: int = 10,
    explained: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Both methods, one row per column, most important (by permutation) first."""
    if rows.empty or not len(rows.columns):
        raise ExplainError(f"nothing to explain: {len(rows)} rows, {len(rows.columns)} columns")
    y = np.asarray(y)
    if len(y) != len(rows):
        raise ExplainError(f"{len(y)} labels for {len(rows)} rows")
    perm = permutation_importance(predict, rows, y, task, repeats, seed)
    shap_values = shapley(predict, rows, background, explained, seed)
    table = pd.DataFrame(
        [(c, perm[c][0], perm[c][1], shap_values[c]) for c in rows.columns],
        columns=COLUMNS[:4],
    )
    table["permutation_rank"] = table["permutation"].rank(ascending=False, method="min")
    table["shap_rank"] = table["shap"].rank(ascending=False, method="min")
    table[["permutation_rank", "shap_rank"]] = table[["permutation_rank", "shap_rank"]].astype(int)
    return table.sort_values(["permutation_rank", "shap_rank"]).reset_index(drop=True)


def plot(table: pd.DataFrame, path: str, title: str = "") -> str:
    """Two bar charts side by side (permutation with its std; mean |SHAP|) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.iloc[::-1]  # most important at the top
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 0.45 * len(t) + 1.6), sharey=True)
    a.barh(t["feature"], t["permutation"], xerr=t["permutation_std"], color="#4c72b0")
    a.set_xlabel("score drop when shuffled (permutation)")
    b.barh(t["feature"], t["shap"], color="#dd8452")
    b.set_xlabel("mean |SHAP value| (KernelExplainer)")
    fig.suptitle(title or "feature importance on the eval split")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
