"""Retraining modes benchmark: does `warm` reach the previous champion's accuracy within 0.01
with at most a third of `full`'s compute?

    .venv/tfx/bin/python bench/modes/run.py [--seeds 1 2 3]

The scenario is a scheduled retrain: the previous run searched the old data (the first half of
the training rows of scikit-learn's digits, as 8x8 images) and its winner, trained by the
"Trainer" step, is the champion. New data arrives (all the training rows). Then:

- `full`: a fresh evolution search (MAX_TRIALS trials) on the new data, then the Trainer step;
- `warm`: the search seeded by components/nas_tuner/modes.warm_config with the champion (and its
  weights) and the previous search's leader, running a quarter of the trials, then the Trainer;
- `retrain`: the Trainer step alone, on the champion's architecture from its weights.

Searches validate on their own validation rows; every accuracy reported is on a held-out test
split that no search, selection or Trainer step sees (the same rows for every mode). Compute is
example-epochs (training examples x epochs), counted for the search and the Trainer step
together. The engine runs the same code
as the Tuner node (nas/), without TFX around it. Writes results.json and table.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from bench.common import AS_BENCHMARKED  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from components.nas_tuner import modes, tf_engine  # noqa: E402
from nas.build import winner_model  # noqa: E402
from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.encoding import Architecture  # noqa: E402
from nas.inputs import from_arrays  # noqa: E402
from nas.search import run_search  # noqa: E402

tf_engine.install()  # the engine's TensorFlow device setup, as in the pipeline

MAX_TRIALS = 12
EPOCHS = 6
BATCH = 32
N_TEST, N_VAL = 360, 287


def digits(seed: int):
    """(train, validation, test): the test rows are fixed (seed 12345), the validation rows are
    drawn from the rest by `seed`."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int64")
    idx = np.random.default_rng(12345).permutation(len(y))
    test = (x[idx[:N_TEST]], y[idx[:N_TEST]])
    rest = idx[N_TEST:][np.random.default_rng(seed).permutation(len(y) - N_TEST)]
    val = (x[rest[:N_VAL]], y[rest[:N_VAL]])
    return (x[rest[N_VAL:]], y[rest[N_VAL:]]), val, test


def arrays(x, y):
    return {"pixels": x}, y


def search(cfg: SearchConfig, spec, train, evaluation, state: str):
    data = ArrayData(arrays(*train), arrays(*evaluation))
    result = run_search(cfg, spec, data, state, log=lambda _: None)
    compute = sum(r.get("examples_seen") or 0 for r in result.rows)
    return result, compute


def trainer(spec, arch: Architecture, weights: str, train, evaluation, seed: int):
    """The Trainer step: the architecture at full fidelity, warm-started from `weights`,
    EPOCHS epochs on `train`. Returns (model, accuracy on `evaluation`, compute)."""
    keras.utils.set_random_seed(seed)
    model, _ = winner_model(arch, spec, seed=seed, weights=weights)
    model.fit(*arrays(*train), batch_size=BATCH, epochs=EPOCHS, verbose=0)
    scores = model.evaluate(*arrays(*evaluation), batch_size=256, verbose=0, return_dict=True)
    return model, float(scores["accuracy"]), EPOCHS * len(train[1])


def one_seed(seed: int, tmp: str) -> dict:
    (x, y), validation, test = digits(seed)
    old = (x[: len(y) // 2], y[: len(y) // 2])
    new = (x, y)
    spec = from_arrays({"pixels": x}, 10, overrides={"pixels": {"shape": [8, 8]}})
    base = {
        **AS_BENCHMARKED,
        "space": "chain",
        "strategy": "evolution",
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "seed": seed,
        "max_trials": MAX_TRIALS,
        "strategy_options": {"population_size": 4, "sample_size": 2},
    }
    cfg = SearchConfig.from_dict(base)

    # The previous run: a full search on the old data, and its Trainer step: the champion.
    prev, _ = search(cfg, spec, old, validation, f"{tmp}/prev")
    champ_model, champ_acc, _ = trainer(spec, prev.architecture, prev.weights_path, old, test, seed)
    champ_weights = f"{tmp}/champion.weights.h5"
    champ_model.save_weights(champ_weights)
    hp = prev.hyperparameters.get_config()
    leaders = [
        r
        for r in sorted(prev.rows, key=lambda r: -(r.get("score") or 0))
        if r.get("score") is not None
    ]

    out = {"seed": seed, "champion_accuracy": champ_acc}

    # full
    def searched(config, name: str) -> dict:
        res, comp = search(config, spec, new, validation, f"{tmp}/{name}")
        _, acc, tcomp = trainer(spec, res.architecture, res.weights_path, new, test, seed)
        return {
            "accuracy": acc,
            "search_compute": comp,
            "compute": comp + tcomp,
            "trials": len(res.rows),
        }

    out["full"] = searched(cfg, "full")
    # warm
    out["warm"] = searched(
        modes.warm_config(cfg, (hp, champ_weights), leaders, log=lambda _: None), "warm"
    )
    # retrain
    _, acc, tcomp = trainer(spec, prev.architecture, champ_weights, new, test, seed)
    out["retrain"] = {"accuracy": acc, "search_compute": 0, "compute": tcomp, "trials": 0}
    return out


def main() -> int:
    global MAX_TRIALS, EPOCHS
    p = argparse.ArgumentParser()
    # The search config wants seeds >= 1 (the table of 2026-11-28 used 0, 1, 2).
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--max-trials", type=int, default=MAX_TRIALS)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--out", default=HERE)
    args = p.parse_args()
    MAX_TRIALS, EPOCHS = args.max_trials, args.epochs
    os.makedirs(args.out, exist_ok=True)
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            r = one_seed(seed, tmp)
        results.append(r)
        print(json.dumps(r), flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"max_trials": MAX_TRIALS, "epochs": EPOCHS, "results": results}, f, indent=1)
    lines = [
        "| seed | champion test acc | mode | test accuracy | vs champion | trials | compute | "
        "of full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for mode in ("full", "warm", "retrain"):
            m = r[mode]
            lines.append(
                f"| {r['seed']} | {r['champion_accuracy']:.4f} | {mode} | {m['accuracy']:.4f} | "
                f"{m['accuracy'] - r['champion_accuracy']:+.4f} | {m['trials']} | "
                f"{m['compute']:,} | {m['compute'] / r['full']['compute']:.2f} |"
            )
    ok = [
        r["warm"]["accuracy"] >= r["champion_accuracy"] - 0.01
        and r["warm"]["compute"] <= r["full"]["compute"] / 3
        for r in results
    ]
    med = statistics.median(r["warm"]["compute"] / r["full"]["compute"] for r in results)
    lines.append("")
    lines.append(
        f"warm within 0.01 of the champion with <= 1/3 of full's compute: "
        f"{sum(ok)} of {len(ok)} seeds; median compute share {med:.2f}"
    )
    print("\n".join(lines))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
