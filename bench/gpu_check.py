"""GPU check for the NAS engine: `bench/gpu_check` (one command).

On a GPU host it runs a small cell-space search with mixed precision, then asserts that
- Keras sees the GPU and the dtype policy is mixed_float16,
- a searched layer computes in float16 and the model outputs float32,
- the trained weights live on the GPU,
and prints throughput (examples per second of training during the search).
On a CPU-only host it says it needs a GPU and exits with status 2.

Runs on any Keras backend (KERAS_BACKEND=tensorflow, torch or jax); it needs only keras,
keras-tuner and numpy besides the backend, so a GPU box without TensorFlow can run it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from components.nas_tuner import tf_engine  # noqa: E402  (imports no TensorFlow itself)
from nas import device  # noqa: E402


def data(n: int = 20000, seed: int = 0):
    """Synthetic 16x16 images whose class is the brightest of 10 horizontal bands."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 16, 16)).astype("float32")
    y = rng.integers(0, 10, n)
    for i, c in enumerate(y):
        x[i, (c * 16) // 10 : (c * 16) // 10 + 2, :] += 1.5
    return x.reshape(n, 256), y.astype("int64")


def on_gpu(model) -> bool:
    backend = keras.backend.backend()
    v = model.trainable_weights[0].value
    if backend == "torch":
        return v.device.type == "cuda"
    if backend == "jax":
        return all(d.platform == "gpu" for d in v.devices())
    return "GPU" in v.device


def main(argv: list[str]) -> int:
    # --cpu-dry-run: run every step on the CPU with a tiny budget and skip only the placement
    # assertion, so CI keeps this script working on hosts without a GPU.
    dry = "--cpu-dry-run" in argv
    tf_engine.install()  # TensorFlow's GPUs, memory growth and strategy (used on that backend)
    backend = keras.backend.backend()
    gpus = device.list_gpus(backend)
    if not gpus and not dry:
        print(
            f"gpu_check needs a GPU: the Keras {backend} backend sees none. "
            "Run it on a GPU host (see docs/nas.md, 'GPU').",
            file=sys.stderr,
        )
        return 2
    from nas.config import SearchConfig
    from nas.data import ArrayData
    from nas.inputs import from_arrays
    from nas.search import run_search
    from nas.spaces import get_space

    x, y = data(128 if dry else 20000)  # the dry run: every step, at CPU speed (mixed precision)
    spec = from_arrays({"pixels": x}, 10, overrides={"pixels": {"shape": [16, 16]}})
    split = int(0.8 * len(y))
    search_data = ArrayData(({"pixels": x[:split]}, y[:split]), ({"pixels": x[split:]}, y[split:]))
    cfg = SearchConfig.from_dict(
        {
            "space": "cells",
            "strategy": "random",
            "max_trials": 1 if dry else 3,
            "epochs": 1 if dry else 3,
            "batch_size": 256,
            "mixed_precision": "on",
            "seed": 1,
            # as the check was written: no curve stop, no inheritance, no time budget
            "curve_stop": False,
            "inherit_weights": False,
            "time_budget_min": 1e6,
        }
    )
    t0 = time.time()
    result = run_search(cfg, spec, search_data, tempfile.mkdtemp(prefix="gpu_check-"))
    wall = time.time() - t0
    assert keras.mixed_precision.dtype_policy().name == "mixed_float16", "mixed precision is off"
    assert dry or "GPU" in result.device, result.device

    space = get_space("cells", spec)
    model = space.build_model(result.architecture)
    model.fit({"pixels": x[:2048]}, y[:2048], batch_size=256, epochs=1, verbose=0)
    half = [layer for layer in model.layers if layer.weights and layer.compute_dtype == "float16"]
    assert half, "no layer computes in float16"
    out = model({"pixels": x[:8]}, training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32", out.dtype
    assert dry or on_gpu(model), "the model's weights are not on the GPU"

    examples = sum(r["examples_seen"] for r in result.rows if r["status"] == "completed")
    train_s = sum(r["wall_s"] for r in result.rows if r["status"] == "completed")
    status = "DRY RUN (CPU)" if dry else "OK"
    print(
        f"gpu_check {status}: backend={backend} gpus={gpus} policy=mixed_float16 "
        f"trials={len(result.rows)} best={result.best_score:.4f}"
    )
    print(
        f"throughput: {examples / train_s:,.0f} examples/s in trials "
        f"({examples:,} examples, {train_s:.1f} s; search wall {wall:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
