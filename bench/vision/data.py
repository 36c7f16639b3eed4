"""The vision benchmark's two sets, each with a fixed held-out test split that no search, no
selection and no Trainer sees:

- `digits`: scikit-learn's 1,797 handwritten digits as 8x8 images (pixels / 16). A fixed 20% is
  the test split; the rest is split 80/20 into train and validation by the benchmark seed.
- `signals`: a synthetic 1-D set generated here, where convolutions beat linear models by a
  wide margin (RESULTS.md gives both). Ten classes, each a template of two or three Gaussian
  bumps of either sign. An example is its class's template stretched (x0.8-1.2), shifted
  (+-15% of the length) and scaled (x0.6-1.4), on a correlated background (three slow
  sinusoids and a random walk), plus white noise. The templates and the test split come from
  fixed generator seeds; the train/validation pool is split by the benchmark seed.
"""

from __future__ import annotations

import numpy as np

SIGNAL_LENGTH = 64
SIGNAL_CLASSES = 10
SIGNAL_POOL = 3000  # train + validation
SIGNAL_TEST = 1000


def _templates(length: int, classes: int) -> np.ndarray:
    gen = np.random.default_rng(0)
    t = np.linspace(0, 1, length)
    out = []
    for _ in range(classes):
        k = int(gen.integers(2, 4))
        centers = gen.uniform(0.2, 0.8, k)
        widths = gen.uniform(0.02, 0.07, k)
        amps = gen.choice([-1.0, 1.0], k) * gen.uniform(0.7, 1.5, k)
        bumps = zip(amps, centers, widths, strict=True)
        out.append(sum(a * np.exp(-0.5 * ((t - c) / w) ** 2) for a, c, w in bumps))
    return np.stack(out)


def make_signals(n: int, seed: int, length: int = SIGNAL_LENGTH, classes: int = SIGNAL_CLASSES):
    """(x [n, length] float32, y [n] int64) drawn with generator seed `seed`."""
    templates = _templates(length, classes)
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    y = rng.integers(0, classes, n)
    x = np.empty((n, length))
    for i in range(n):
        stretch, shift = rng.uniform(0.8, 1.2), rng.uniform(-0.15, 0.15)
        warped = np.interp((t - 0.5) / stretch + 0.5 - shift, t, templates[y[i]], left=0, right=0)
        freqs, phases = rng.uniform(0.5, 3.0, 3), rng.uniform(0, 2 * np.pi, 3)
        background = 0.3 * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(0)
        background += np.cumsum(rng.normal(0, 0.05, length))
        x[i] = rng.uniform(0.6, 1.4) * warped + background + rng.normal(0, 0.25, length)
    return x.astype("float32"), y.astype("int64")


def _split(x, y, seed: int, share: float):
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - share)))
    a, b = order[:cut], order[cut:]
    return (x[a], y[a]), (x[b], y[b])


def load(name: str, seed: int, small: bool = False) -> dict:
    """{"train", "val", "test": (x, y)} and the input shape, for benchmark seed `seed`.
    `small`: a few hundred examples (the test suite's smoke run)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = (d.data / 16.0).astype("float32"), d.target.astype("int64")
        pool, test = _split(x, y, 12345, 0.2)
        shape = [8, 8]
    elif name == "signals":
        pool = make_signals(SIGNAL_POOL, 1)
        test = make_signals(SIGNAL_TEST, 2)
        shape = [SIGNAL_LENGTH]
    else:
        raise ValueError(f"unknown set {name!r}: digits or signals")
    if small:
        pool = (pool[0][:300], pool[1][:300])
        test = (test[0][:200], test[1][:200])
    train, val = _split(*pool, seed, 0.2)
    return {"train": train, "val": val, "test": test, "shape": shape}
