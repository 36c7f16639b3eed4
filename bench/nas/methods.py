"""The NAS benchmark's data, methods and their settings (run.py drives them).

Methods: KerasTuner's Hyperband, RandomSearch and BayesianOptimization on our space's
HyperModel; ours (evolution, REINFORCE, `nas-best`) and a control, `random-full` (our runner,
random proposals at full fidelity, nothing else: what the estimators must beat); `CANDIDATES`
were tried on the development seeds only.
"""

from __future__ import annotations

import csv
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from bench.common import AS_BENCHMARKED  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from components.nas_tuner import tf_engine  # noqa: E402
from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.search import run_search  # noqa: E402
from nas.spaces import get_space  # noqa: E402

tf_engine.install()  # the engine's TensorFlow device setup, as in the pipeline

# Reported seeds, named before the run of 2026-12-01; the earlier report's seeds (0, 1, 2) had
# already been seen. Development seeds, where configurations are chosen: 7 and 8.
SEEDS = (11, 12, 13, 14, 15)
DEV_SEEDS = (7, 8)
# Seeds for the re-chosen `nas-best` (one rung at epoch 3), named on 2026-12-01 before its run:
# seeds 11-15 had been seen when it was re-chosen.
RECHOICE_SEEDS = (16, 17, 18, 19, 20)
# Seeds for the rerun after issue 32 (an epoch a pass over the training rows, row-subsample
# fidelities), named on 2026-12-06 before its run; nothing was chosen on them.
FRESH_SEEDS = (21, 22, 23)

EPOCHS = 9  # full fidelity
BATCH = 32
SPACE = "chain"
LOW = {"epochs": 3}  # our low fidelity: a third of the epochs, all the data
HALVING = {"successive_halving": True, "halving_rungs": [1, 3], "halving_eta": 3}
OURS = {
    "evolution": {"strategy": "evolution", "strategy_options": {"population_size": 5}},
    "reinforce": {"strategy": "reinforce"},
    # Random proposals through the surrogate predictor (a ridge regressor on the choices ranks
    # 32 sampled candidates; the top ones are trained), at full fidelity with successive halving
    # inside the search: at epoch 3 a trial goes on only if it is in the top third of earlier
    # trials there. The search stops at Hyperband's compute. Re-chosen on 2026-12-01 (it was
    # `surrogate-halving13`, rungs at epochs 1 and 3): an epoch-1 rung ranks poorly (Kendall
    # tau 0.35 on digits, 0.66 at epoch 3), and on the development seeds this configuration
    # (the candidate `surrogate-halving3` there) chose champions that tested higher (0.986 and
    # 0.914 against 0.981 and 0.886), though its best validation scores were lower. On the
    # fresh seeds 16-20 it did worse than the previous one (median test 0.964 against 0.975):
    # kept, as choosing on reported seeds is not allowed; RESULTS.md.
    "nas-best": {"strategy": "random", "surrogate": True, **HALVING, "halving_rungs": [3]},
    # The control: random proposals at full fidelity in our runner, with nothing else.
    "random-full": {"strategy": "random"},
}
# Configurations tried on development seeds 7 and 8 (not reported seeds) before fixing
# `nas-best`; `--methods` runs any of them.
CANDIDATES = {
    # `nas-best` until 2026-12-01 (the seeds 11-15 tables' `nas-best`).
    "surrogate-halving13": {"strategy": "random", "surrogate": True, **HALVING},
    "evo-halving": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 8, "sample_size": 3},
        **HALVING,
    },
    "evo-halving-inherit": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 8, "sample_size": 3},
        **HALVING,
        "inherit_weights": True,
    },
    "random-halving": {"strategy": "random", **HALVING},
    "evo-halving3": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 8, "sample_size": 3},
        **HALVING,
        "halving_rungs": [3],
    },
    "random-halving3": {"strategy": "random", **HALVING, "halving_rungs": [3]},
    "surrogate-halving3": {
        "strategy": "random",
        "surrogate": True,
        **HALVING,
        "halving_rungs": [3],
    },
    "reinforce-halving3": {
        "strategy": "reinforce",
        **HALVING,
        "halving_rungs": [3],
    },
    "reinforce-halving": {"strategy": "reinforce", **HALVING},
    # The configuration `nas-best` had before: evolution at 3 epochs with weight inheritance.
    "evo-low-inherit": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 8, "sample_size": 3},
        "search_fidelity": LOW,
        "inherit_weights": True,
    },
}
KT = ("kt-hyperband", "kt-random", "kt-bayesian")


# ---------------------------------------------------------------------------- data
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = {"pixels": (d.data / 16.0).astype("float32")}
    return x, d.target.astype("int64"), {"pixels": {"shape": [8, 8]}}, {}


def penguins():
    path = os.path.join(REPO, "data", "penguins", "penguins.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    x, vocab = {}, {}
    for col in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        v = np.array([float(r[col]) if r[col] else np.nan for r in rows], dtype="float32")
        v = np.where(np.isnan(v), np.nanmean(v), v)
        x[col] = ((v - v.mean()) / v.std()).reshape(-1, 1)
    for col in ("island", "sex"):
        values = sorted({r[col] for r in rows})
        x[col] = np.array([values.index(r[col]) for r in rows], dtype="int64").reshape(-1, 1)
        vocab[col] = len(values)
    labels = sorted({r["species"] for r in rows})
    y = np.array([labels.index(r["species"]) for r in rows], dtype="int64")
    return x, y, {}, vocab


DATASETS = {"digits": digits, "penguins": penguins}


def split(x, y, seed=0):
    idx = np.random.default_rng(seed).permutation(len(y))
    n = len(y)
    parts = (idx[: int(0.6 * n)], idx[int(0.6 * n) : int(0.8 * n)], idx[int(0.8 * n) :])
    return [({k: v[p] for k, v in x.items()}, y[p]) for p in parts]


# ---------------------------------------------------------------------------- methods
def curve_of(rows):
    out, compute, best = [], 0, None
    for r in rows:
        compute += r["compute"]
        if r["score"] is not None:
            best = r["score"] if best is None else max(best, r["score"])
        if best is not None:
            out.append((compute, best))
    return out


def run_kt(name, space, train, val, seed, budget, workdir):
    n = len(train[1])
    common = dict(
        hypermodel=space,
        objective="val_accuracy",
        seed=seed + 1,
        directory=workdir,
        project_name=name,
        overwrite=True,
    )
    if name == "kt-hyperband":
        tuner = keras_tuner.Hyperband(max_epochs=EPOCHS, factor=3, hyperband_iterations=1, **common)
    else:
        trials = max(1, budget // (EPOCHS * n))
        if name == "kt-random":
            tuner = keras_tuner.RandomSearch(max_trials=trials, **common)
        else:
            # KerasTuner's default is 3 initial points per hyperparameter, more than the ~8
            # trials the budget allows: it was random search under another name.
            tuner = keras_tuner.BayesianOptimization(
                max_trials=trials, num_initial_points=3, **common
            )
    tuner.oracle.verbose = 0
    keras.utils.set_random_seed(seed)
    t0 = time.time()
    tuner.search(
        train[0], train[1], validation_data=val, epochs=EPOCHS, batch_size=BATCH, verbose=0
    )
    wall = time.time() - t0
    rows = []
    for tid in tuner.oracle.start_order:
        t = tuner.oracle.trials[tid]
        v = t.hyperparameters.values
        epochs = v.get("tuner/epochs", EPOCHS) - v.get("tuner/initial_epoch", 0)
        rows.append({"trial_id": tid, "score": t.score, "compute": epochs * n})
    best = tuner.oracle.get_best_trials(1)[0]
    return rows, space.architecture(best.hyperparameters.values), wall


def run_ours(name, spec, train, val, seed, budget, workdir):
    method = {**OURS, **CANDIDATES}[name]
    raw = {
        **AS_BENCHMARKED,
        "space": SPACE,
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "seed": seed + 1,
        **method,
    }
    fid = raw.get("search_fidelity", {})
    per_trial = fid.get("epochs", EPOCHS) * fid.get("data_fraction", 1.0) * len(train[1])
    # The search stops at Hyperband's compute. Without halving every trial costs the same, so
    # max_trials is what fits; with it, trials cost 1 to EPOCHS epochs and the budget decides.
    raw["compute_budget"] = int(budget)
    raw["max_trials"] = (
        10_000 if raw.get("successive_halving") else max(1, int(budget // per_trial))
    )
    cfg = SearchConfig.from_dict(raw)
    t0 = time.time()
    result = run_search(
        cfg, spec, ArrayData(train, val), os.path.join(workdir, name), log=lambda _: None
    )
    wall = time.time() - t0
    rows = [
        {"trial_id": r["trial_id"], "score": r["score"], "compute": r["examples_seen"]}
        for r in result.rows
    ]
    return rows, result.architecture, wall


def test_accuracy(spec, arch, train, test, seed):
    """Retrain the chosen architecture at full fidelity; accuracy on the held-out test split."""
    keras.utils.set_random_seed(seed)
    model = get_space(SPACE, spec, seed=seed + 1).build_model(arch)
    model.fit(train[0], train[1], epochs=EPOCHS, batch_size=BATCH, verbose=0)
    return float(model.evaluate(test[0], test[1], verbose=0, return_dict=True)["accuracy"])
