"""How far the TFLite files (core/tflite.py) move a regression model's predictions: the figure
behind docs/registry.md's "the quantised diabetes model moves by at most ...% of it" and the 5%
tolerance of the regression agreement rule (core/tasks.py).

On the bundled diabetes table (features standardised as Transform does, the label as the
regression head expects), per seed the engine draws chain-space networks until one has a weight
tensor that TFLite quantises (`tflite.MIN_QUANTISED_VALUES` values; smaller models' dynamic-range
file is their float file), trains it for `--epochs`, exports both TFLite variants and runs them
on every row. Reported per seed and
variant: the largest |TFLite - Keras| as a share of the Keras predictions' standard deviation,
and the share of rows within the agreement rule's 5%.

    .venv/tfx/bin/python bench/edge_tolerance.py [--seeds 1 ... 8] [--epochs 30]

Writes bench/edge_tolerance.json and prints a Markdown table (quoted in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402
from core import tasks, tflite  # noqa: E402
from nas.inputs import Feature, InputSpec  # noqa: E402
from nas.spaces import get_space  # noqa: E402

OUT = REPO / "bench" / "edge_tolerance.json"


def diabetes() -> tuple[dict, np.ndarray, InputSpec]:
    frame = pd.read_csv(REPO / "data" / "diabetes" / "diabetes.csv")
    y = frame.pop("progression").to_numpy("float32")
    x = {
        f"{c}_xf": ((v - v.mean()) / v.std()).to_numpy("float32")[:, None] for c, v in frame.items()
    }
    features = tuple(Feature(name, "numeric") for name in x)
    return x, y, InputSpec(features, 1, "regression", float(y.mean()), float(y.std()))


def one_seed(seed: int, epochs: int, x, y, spec) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    space, rng = get_space("chain", spec, seed=seed), random.Random(seed)
    for draws in range(1, 101):  # noqa: B007 (kept: how many draws it took)
        arch = space.sample(rng)
        model = space.build_model(arch)
        if max(w.size for w in model.get_weights()) >= tflite.MIN_QUANTISED_VALUES:
            break
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    reference = np.asarray(model.predict(x, verbose=0)).reshape(-1)
    out = {
        "seed": seed,
        "draws": draws,
        "architecture": space.describe(arch),
        "params": model.count_params(),
    }
    if not np.isfinite(reference).all():
        return {**out, "diverged": True}
    with tempfile.TemporaryDirectory() as tmp:
        folder = tflite.export(model, tmp)
        for variant in tflite.VARIANTS:
            content = Path(folder, f"{variant}.tflite").read_bytes()
            edge = np.asarray(tflite.run(content, x)).reshape(-1)
            out[variant] = {
                "max_shift_share": float(np.max(np.abs(edge - reference)) / reference.std()),
                "agreement": tasks.get("regression").agreement(reference, edge),
                "size_kb": round(len(content) / 1024, 2),
            }
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| seed | params | float: max shift | dynamic range: max shift | dynamic range: rows "
        "within 5% | sizes (KB) |",
        "|-----:|-------:|-----------------:|-------------------------:|----------:|-----------|",
    ]
    for r in rows:
        if r.get("diverged"):
            lines.append(f"| {r['seed']} | {r['params']} | diverged in training (NaN) | | | |")
            continue
        f, d = r["float"], r["dynamic_range"]
        lines.append(
            f"| {r['seed']} | {r['params']} | {100 * f['max_shift_share']:.3f}% | "
            f"{100 * d['max_shift_share']:.2f}% | {100 * d['agreement']:.1f}% | "
            f"{f['size_kb']} / {d['size_kb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    x, y, spec = diabetes()
    rows = []
    for seed in args.seeds:
        rows.append(one_seed(seed, args.epochs, x, y, spec))
        print(json.dumps(rows[-1]), flush=True)
    result = {
        **stamp(),
        "command": " ".join(["bench/edge_tolerance.py", *sys.argv[1:]]),
        "rows": rows,
        "worst_dynamic_range_shift": max(
            r["dynamic_range"]["max_shift_share"] for r in rows if not r.get("diverged")
        ),
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
