"""Rare classes: class weights against balanced sampling against neither (issue 33, item 3).

The same small Keras network (two hidden layers of 64, the engine's Keras 3) trains on a
generated binary table with rare positives (bench/scale/data.py: labels from a random teacher
network, so a model can learn them) in three ways, for the same number of passes:

- `none`: plain batches, the loss unweighted;
- `class_weight`: plain batches, each row's loss weighed by n / (k x its class's rows) (what the
  engine's `class_weight` knob does: nas/task.py `class_weights`);
- `balanced_sampling`: each batch drawn half from each class (positives repeated), the loss
  unweighted: as many steps as a pass.

Each model's decision threshold is chosen on the validation rows by best F1 (core/metrics.py
`choose_threshold`, as the Trainer does), then it is scored on 20,000 FRESH rows of the same
generator: PR AUC, ROC AUC, log loss, and precision / recall / F1 at that threshold. Beside them,
on the same rows: scikit-learn's LogisticRegression and HistGradientBoostingClassifier (their
thresholds chosen the same way) and the trivial baseline (PR AUC = the positive share).

Development seeds (1, 2) and reported seeds (11, 12, 13) are both written; the default was
chosen on the development seeds only.

    .venv/tfx/bin/python bench/rare/run.py [--shares 0.01 0.04 0.15] [--seeds 11 12 13]

Writes bench/rare/results.json and bench/rare/RESULTS.md (the date, the machine, this command).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402
from bench.scale import data as tables  # noqa: E402
from core import metrics  # noqa: E402
from nas.task import class_weights  # noqa: E402

METHODS = ("none", "class_weight", "balanced_sampling")
TRAIN, VALIDATION, FRESH = 20_000, 5_000, 20_000
EPOCHS, BATCH = 8, 128
DEV_SEEDS = (1, 2)


def table(share: float, seed: int):
    """(train, validation, fresh) as (x, y) pairs: one labelling rule, three draws of rows."""
    out = []
    for k, n in enumerate((TRAIN, VALIDATION, FRESH)):
        columns, y = tables.rows(n, seed * 10 + k, positive_share=share)
        out.append((tables.matrix(columns).astype("float32"), y.astype(int)))
    return out


def balanced(x, y, steps: int, seed: int):
    """Endless batches drawn half from each class."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in (0, 1)]
    half = BATCH // 2
    for _ in range(steps):
        idx = np.r_[rng.choice(groups[0], half), rng.choice(groups[1], half)]
        yield x[idx], y[idx]


def keras_model(method: str, train, validation, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((train[0].shape[1],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x, y = train
    steps = int(np.ceil(len(y) / BATCH))
    if method == "balanced_sampling":
        batches = balanced(x, y, steps * EPOCHS, seed)
        model.fit(batches, steps_per_epoch=steps, epochs=EPOCHS, verbose=0)
    else:
        weights = None
        if method == "class_weight":  # the engine's own weights (its `balanced` rule)
            weights = class_weights(tuple(np.bincount(y, minlength=2)), "balanced")
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, class_weight=weights, verbose=0)
    return lambda rows: model.predict(rows, batch_size=4096, verbose=0)


def sklearn_model(name: str, train, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    model = (
        LogisticRegression(max_iter=2000)
        if name == "logistic_regression"
        else HistGradientBoostingClassifier(random_state=seed)
    )
    model.fit(*train)
    return model.predict_proba


def score(predict, validation, fresh) -> dict:
    threshold, _ = metrics.choose_threshold(validation[1], predict(validation[0])[:, 1])
    probs = np.clip(predict(fresh[0]), 1e-7, 1 - 1e-7)
    got = metrics.compute("binary", fresh[1], probs, threshold=threshold)
    keep = ("pr_auc", "roc_auc", "log_loss", "precision", "recall", "f1")
    return {k: round(float(got[k]), 4) for k in keep} | {"threshold": round(threshold, 4)}


def one(share: float, seed: int) -> dict:
    train, validation, fresh = table(share, seed)
    out = {
        "share": share,
        "seed": seed,
        "positives_train": int(train[1].sum()),
        "prior_pr_auc": round(float(fresh[1].mean()), 4),
    }
    for method in METHODS:
        t0 = time.monotonic()
        out[method] = score(keras_model(method, train, validation, seed), validation, fresh)
        out[method]["fit_s"] = round(time.monotonic() - t0, 1)
    for name in ("logistic_regression", "hgb"):
        out[name] = score(sklearn_model(name, train, seed), validation, fresh)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.04, 0.15])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    shares, seeds = " ".join(map(str, args.shares)), " ".join(map(str, args.seeds))
    results = stamp() | {"command": f"bench/rare/run.py --shares {shares} --seeds {seeds}"}
    for group, seeds in (("development", DEV_SEEDS), ("reported", args.seeds)):
        results[group] = []
        for share in args.shares:
            for seed in seeds:
                row = one(share, seed)
                results[group].append(row)
                print(json.dumps(row), flush=True)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    from bench.rare import report

    (out / "RESULTS.md").write_text(report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
