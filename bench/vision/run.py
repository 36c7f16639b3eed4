"""Vision and signal benchmark: our search with the engine's defaults against a hand-written CNN
and KerasTuner's Hyperband, on 8x8 digit images and synthetic 1-D signals (data.py), scored
once on a held-out test split that no search, selection or training sees.

    .venv/tfx/bin/python bench/vision/run.py [--sets digits signals] [--seeds 1 2 3]
        [--minutes 4] [--out bench/vision]

Reported seeds, named before the first run: 1, 2, 3. Development seed: 100 (smoke checks only;
no setting here was chosen on a reported seed). Per set and seed:

1. **ours**: `run_search` with the engine's defaults (the `auto` space, evolution, curve stop,
   weight inheritance, top-3 re-evaluation) and a time budget of `--minutes`, on train, scored
   on validation; then the Trainer's step: the winner at full fidelity, warm-started from its
   search weights, trained `EPOCHS` epochs on train.
2. **hyperband**: KerasTuner's Hyperband over a hand-written conv space (peers.py), stopped at
   the wall clock our search took; its best model then gets the same Trainer step.
3. **hand CNN**: peers.hand_cnn trained once for `EPOCHS` epochs.
4. **linear**: logistic regression on the raw values, to show what convolutions add.

Writes results.json (every seed, every number) and RESULTS.md (report.py) in `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from bench.vision import data as sets  # noqa: E402
from bench.vision import peers, report  # noqa: E402
from components.nas_tuner import tf_engine  # noqa: E402
from nas.build import winner_model  # noqa: E402
from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.inputs import from_arrays  # noqa: E402
from nas.search import run_search  # noqa: E402
from nas.spaces import get_space  # noqa: E402

tf_engine.install()  # the engine's TensorFlow device setup, as in the pipeline

SEEDS = (1, 2, 3)
DEV_SEEDS = (100,)
EPOCHS = 20
BATCH = 64
CLASSES = 10


def _test(model, d) -> float:
    scores = model.evaluate({"x": d["test"][0]}, d["test"][1], verbose=0, return_dict=True)
    return float(scores["accuracy"])


def _trainer(model, d, epochs) -> tuple[float, float]:
    """The Trainer's step: `epochs` more epochs on train. Returns (test accuracy, seconds)."""
    t0 = time.time()
    model.fit({"x": d["train"][0]}, d["train"][1], epochs=epochs, batch_size=BATCH, verbose=0)
    return _test(model, d), time.time() - t0


def ours(d, seed, minutes, epochs, workdir, log) -> dict:
    shape = d["shape"]
    override = {"shape": shape} if len(shape) > 1 else "signal"
    spec = from_arrays({"x": d["train"][0]}, CLASSES, overrides={"x": override})
    cfg = SearchConfig.from_dict(
        # The engine's defaults, but for what a benchmark must fix: the epochs, the batch, the
        # seed and the time budget (max_trials high: the time budget ends the search).
        {"epochs": epochs, "batch_size": BATCH, "seed": seed, "time_budget_min": minutes}
        | {"max_trials": 10_000}
    )
    data = ArrayData(({"x": d["train"][0]}, d["train"][1]), ({"x": d["val"][0]}, d["val"][1]))
    t0 = time.time()
    result = run_search(cfg, spec, data, workdir, log=log)
    search_s = time.time() - t0
    arch = result.architecture
    steps = epochs * math.ceil(len(d["train"][1]) / BATCH)
    model, _ = winner_model(
        arch,
        spec,
        seed=cfg.seed,
        steps=steps,
        weights=result.weights_path,
        fidelity=cfg.search_fidelity,
    )
    # The search's own weights, as they are, for the test score they alone reach.
    searched = get_space(arch.space, spec, fidelity=cfg.search_fidelity, seed=cfg.seed)
    searched = searched.build_model(arch)
    searched.load_weights(result.weights_path)
    space = get_space(arch.space, spec, seed=cfg.seed)
    test, trainer_s = _trainer(model, d, epochs)
    rows = result.rows
    winner = next(r for r in rows if r["trial_id"] == result.best_trial_id)
    return {
        "test": test,
        "test_search_weights": _test(searched, d),
        "val": winner["score"],
        "val_mean": winner.get("score_mean"),
        "val_std": winner.get("score_std"),
        "best_single_val": max(r["score"] for r in rows if r.get("score") is not None),
        "trials": len(rows),
        "curve_stopped": sum(1 for r in rows if str(r.get("stopped_by")).startswith("curve")),
        "params": int(model.count_params()),
        "summary": space.describe(arch),
        "search_s": round(search_s, 1),
        "trainer_s": round(trainer_s, 1),
    }


def hyperband(d, seed, time_limit_s, epochs, workdir) -> dict:
    model, trials, search_s, _ = peers.hyperband(
        d["shape"],
        CLASSES,
        d["train"],
        d["val"],
        epochs=epochs,
        batch=BATCH,
        seed=seed,
        time_limit_s=time_limit_s,
        workdir=workdir,
    )
    as_left = _test(model, d)
    test, trainer_s = _trainer(model, d, epochs)
    return {
        "test": test,
        "test_search_weights": as_left,
        "trials": trials,
        "params": int(model.count_params()),
        "search_s": round(search_s, 1),
        "trainer_s": round(trainer_s, 1),
    }


def hand(d, seed, epochs) -> dict:
    keras.utils.set_random_seed(seed)
    model = peers.hand_cnn(d["shape"], CLASSES)
    test, seconds = _trainer(model, d, epochs)
    return {"test": test, "params": int(model.count_params()), "trainer_s": round(seconds, 1)}


def linear(d) -> dict:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=3000).fit(*d["train"])
    return {"test": float(model.score(*d["test"]))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=["digits", "signals"])
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--minutes", type=float, default=4.0, help="our search's time budget")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--out", default=HERE)
    p.add_argument("--smoke", action="store_true", help="tiny data and budgets (the tests)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {"runs": []}
    results["settings"] = {"minutes": args.minutes, "epochs": args.epochs, "batch": BATCH}
    for name in args.sets:
        for seed in args.seeds:
            d = sets.load(name, seed, small=args.smoke)
            work = tempfile.mkdtemp(prefix=f"vision-{name}-{seed}-")
            logf = open(os.path.join(args.out, f"search-{name}-{seed}.log"), "w")

            def log(line, _f=logf):
                print(line, file=_f, flush=True)

            keras.backend.clear_session()
            mine = ours(d, seed, args.minutes, args.epochs, os.path.join(work, "ours"), log)
            keras.backend.clear_session()
            limit = mine["search_s"]
            hb = hyperband(d, seed, limit, args.epochs, os.path.join(work, "hb"))
            keras.backend.clear_session()
            run = {
                "set": name,
                "seed": seed,
                "ours": mine,
                "hyperband": hb,
                "hand_cnn": hand(d, seed, args.epochs),
                "linear": linear(d),
            }
            logf.close()
            results["runs"] = [
                r for r in results["runs"] if (r["set"], r["seed"]) != (name, seed)
            ] + [run]
            with open(path, "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)
            print(json.dumps({k: run[k]["test"] for k in ("ours", "hyperband", "hand_cnn")}))
    with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
        f.write(report.markdown(results, " ".join(sys.argv)))


if __name__ == "__main__":
    main()
