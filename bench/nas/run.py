"""NAS benchmark: our strategies and estimators against KerasTuner's RandomSearch, Hyperband and
BayesianOptimization, on the same space (chain), the same data and the same compute budget.

    .venv/tfx/bin/python bench/nas/run.py [--seeds 11 12 13 14 15] [--datasets digits penguins]
        [--methods ...] [--rank-archs 30] [--append]

Compute is counted as training epochs x examples ("example-epochs") and as wall time. The
configurations (methods.py) are fixed in advance and the same for every seed. Budget:
KerasTuner's Hyperband (max_epochs=E, factor 3, one iteration) runs first, and its compute is
every other method's budget. `rank_study` (fidelity.py) runs once per dataset, on the first
seed. Writes results.json, table.md and curves.png in `--out`; RESULTS.md quotes table.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.nas import fidelity, methods, report  # noqa: E402
from bench.nas.methods import (  # noqa: E402
    BATCH,
    CANDIDATES,
    DATASETS,
    HERE,
    KT,
    OURS,
    SEEDS,
    SPACE,
    curve_of,
    run_kt,
    run_ours,
    split,
    test_accuracy,
)
from nas.inputs import from_arrays  # noqa: E402
from nas.spaces import get_space  # noqa: E402


def _keep(results, rerun, methods, rank):
    """The results.json rows a run with --append keeps."""
    datasets, seeds = rerun
    out = []
    for r in results:
        if r["dataset"] not in datasets or r["seed"] not in seeds:
            out.append(r)
        elif r.get("method") == "rank_study":
            out += [] if rank else [r]
        elif methods and r["method"] not in methods:
            out.append(r)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--methods", nargs="+", help="only these methods (others' rows stay)")
    ap.add_argument("--rank-archs", type=int, default=30, help="rank study size (0: skip)")
    ap.add_argument("--epochs", type=int, default=methods.EPOCHS, help="full fidelity")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--append", action="store_true", help="keep results.json's other rows")
    args = ap.parse_args(argv)
    methods.EPOCHS = args.epochs  # the methods read it when they run
    path = os.path.join(args.out, "results.json")
    results = []
    if args.append and os.path.exists(path):
        with open(path) as f:
            results = _keep(
                json.load(f), (set(args.datasets), set(args.seeds)), args.methods, args.rank_archs
            )
    chosen = args.methods or [*KT, *OURS]
    unknown = set(chosen) - {*KT, *OURS, *CANDIDATES}
    if unknown:
        ap.error(f"unknown methods {sorted(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    for ds in args.datasets:
        x, y, overrides, vocab = DATASETS[ds]()
        spec = from_arrays(x, int(y.max()) + 1, vocab=vocab, overrides=overrides)
        train, val, test = split(x, y)
        for seed in args.seeds:
            work = tempfile.mkdtemp(prefix=f"nasbench-{ds}-{seed}-")
            budget = next(
                (
                    r["compute"]
                    for r in results
                    if (r["dataset"], r["seed"], r.get("method")) == (ds, seed, "kt-hyperband")
                ),
                None,
            )
            todo = chosen if budget is not None else ["kt-hyperband", *chosen]
            for name in [m for m in (*KT, *OURS, *CANDIDATES) if m in todo]:
                space = get_space(SPACE, spec, seed=seed + 1)
                if name in KT:
                    rows, arch, wall = run_kt(name, space, train, val, seed, budget, work)
                else:
                    rows, arch, wall = run_ours(name, spec, train, val, seed, budget, work)
                compute = sum(r["compute"] for r in rows)
                if name == "kt-hyperband":
                    budget = compute
                rec = {
                    "dataset": ds,
                    "seed": seed,
                    "method": name,
                    "trials": len(rows),
                    "compute": compute,
                    "wall_s": round(wall, 1),
                    "best_val": max(r["score"] for r in rows if r["score"] is not None),
                    "test_acc": test_accuracy(spec, arch, train, test, seed),
                    "curve": curve_of(rows),
                    "architecture": arch.to_json(),
                }
                results.append(rec)
                print(
                    f"{ds} seed={seed} {name:13s} trials={rec['trials']:3d} "
                    f"compute={compute:>9,} wall={wall:6.1f}s best_val={rec['best_val']:.4f} "
                    f"test={rec['test_acc']:.4f}",
                    flush=True,
                )
            if args.rank_archs and seed == args.seeds[0]:
                study = fidelity.rank_study(
                    spec,
                    train,
                    val,
                    space_name=SPACE,
                    seed=seed,
                    n_archs=args.rank_archs,
                    epochs=methods.EPOCHS,
                    batch=BATCH,
                    image=bool(overrides),
                )
                study["false_stops"] = [
                    fidelity.false_stops(study["full"], min_trials=k) for k in (1, 5)
                ]
                results.append({"dataset": ds, "seed": seed, "method": "rank_study", **study})
                print(f"{ds} seed={seed} Kendall tau per low fidelity: {study['tau']}", flush=True)
            with open(path, "w") as f:  # after every seed: a long run keeps what it finished
                json.dump(results, f, indent=1)
    print(report.write(results, args.out))


if __name__ == "__main__":
    main()
