"""A diagnostic for bench/vision/mnist1d.py, on the DEVELOPMENT data seed only: the hand CNN of
bench/vision/peers.py (the shape the product's search starts from) trained directly in Keras on
the same 4,000 generated rows, batch 32, no early stopping, scored on the fresh rows after
several epoch counts. It shows what more epochs give where the product's Trainer stops early.

    .venv/tfx/bin/python bench/vision/mnist1d_direct.py [--data-seed 100] [--epochs 60]

Writes direct.json in bench/vision/mnist1d (the curve, the command, the date, the commit, the
1-minute load at the start and end).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import commit, stamp  # noqa: E402
from bench.vision import mnist1d, peers  # noqa: E402

CHECKS = (5, 10, 15, 20, 30, 40, 50, 60)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-seed", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "mnist1d"))
    args = parser.parse_args(argv)
    at, load0 = commit(), os.getloadavg()[0]
    x, y = mnist1d.make(4000, args.data_seed)
    x_test, y_test = mnist1d.make(1000, args.data_seed + 1)
    keras.utils.set_random_seed(0)
    model = peers.hand_cnn([mnist1d.LENGTH], mnist1d.CLASSES)
    t0, curve = time.monotonic(), {}
    for epoch in range(1, args.epochs + 1):
        model.fit({"x": x}, y, epochs=1, batch_size=32, verbose=0)
        if epoch in CHECKS or epoch == args.epochs:
            predicted = model.predict({"x": x_test}, verbose=0).argmax(1)
            curve[epoch] = round(float(np.mean(predicted == y_test)), 4)
            print(f"epoch {epoch}: fresh {curve[epoch]:.3f} ({time.monotonic() - t0:.0f} s)")
    command = "bench/vision/mnist1d_direct.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {
        **stamp(),
        "command": ".venv/tfx/bin/python " + command,
        "commit": at,
        "data_seed": args.data_seed,
        "fresh_accuracy_by_epoch": curve,
        "train_s": round(time.monotonic() - t0, 1),
        "load_1min": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "direct.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
