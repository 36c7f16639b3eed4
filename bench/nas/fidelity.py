"""How well cheap scores rank architectures, and how often the learning-curve stop is wrong.

`rank_study`: N random architectures of the benchmark's space, each trained once at full
fidelity (its per-epoch validation curve kept) and once at every low fidelity in `LOWS` (fewer
epochs, a ninth or a third of the training rows, half the width; half the resolution on
images), the low runs with another weight seed than the full one (an independent run, so a
shared initialisation cannot inflate the agreement). Kendall tau between each low fidelity's
scores and the full scores.

`false_stops`: the learning-curve stop (nas/estimation/curve.py) replayed on the full curves,
in the order the architectures were drawn, as the trial runner applies it: no stop until
`min_trials` earlier trials finished (curve_min_trials), then at each epoch from `min_epochs`
on, stop when the extrapolated bound at the last epoch cannot reach the best earlier final
score. A stop is false when the trial's own curve would have ended above that best.
"""

from __future__ import annotations

import random

import keras

from nas.estimation import curve
from nas.estimation.fidelity import Fidelity
from nas.spaces import get_space

LOWS = {
    "epochs=1": {"epochs": 1},
    "epochs=3": {"epochs": 3},
    "rows=1/9": {"data_fraction": 1 / 9},  # the row-subsample fidelities of a halving rung
    "rows=1/3": {"data_fraction": 1 / 3},
    "width=0.5": {"width": 0.5},
}
IMAGE_LOWS = {"res=0.5": {"resolution": 0.5}}


def _fit(space, arch, fidelity, train, val, epochs, batch, seed) -> list[float]:
    keras.utils.set_random_seed(seed)
    model = space.build_model(arch, fidelity)
    n = max(1, int(round(len(train[1]) * fidelity.data_fraction)))
    h = model.fit(
        {k: v[:n] for k, v in train[0].items()},
        train[1][:n],
        epochs=fidelity.epochs_for(epochs),
        batch_size=batch,
        validation_data=val,
        verbose=0,
    )
    return [float(v) for v in h.history["val_accuracy"]]


def rank_study(spec, train, val, *, space_name, seed, n_archs, epochs, batch, image) -> dict:
    """{"archs": [...], "full": [curve...], "low": {name: [score...]}, "tau": {name: tau}}."""
    from scipy.stats import kendalltau

    rng = random.Random(seed)
    space = get_space(space_name, spec, seed=seed + 1)
    lows = {**LOWS, **(IMAGE_LOWS if image else {})}
    out = {"archs": [], "full": [], "low": {name: [] for name in lows}}
    for i in range(n_archs):
        arch = space.sample(rng)
        out["archs"].append(arch.to_json())
        out["full"].append(
            _fit(space, arch, Fidelity(), train, val, epochs, batch, seed * 1000 + i)
        )
        for name, fid in lows.items():
            low = _fit(space, arch, Fidelity(**fid), train, val, epochs, batch, seed * 1000 + i + 1)
            out["low"][name].append(max(low))
        keras.backend.clear_session()
    finals = [max(c) for c in out["full"]]
    out["tau"] = {name: float(kendalltau(s, finals)[0]) for name, s in out["low"].items()}
    return out


def false_stops(curves, *, min_trials=5, min_epochs=4, confidence=0.95) -> dict:
    """The curve stop replayed on `curves` (see the module's docstring)."""
    stops = wrong = judged = 0
    seen: list[float] = []  # every trial's best score as the search saw it
    full = 0  # trials that trained all their epochs
    for c in curves:
        horizon, ended = len(c), len(c)
        if full >= min_trials:
            judged += 1
            target = max(seen)
            for e in range(min_epochs, horizon):
                if curve.cannot_beat(c[:e], target, horizon, confidence):
                    stops += 1
                    wrong += max(c) > target
                    ended = e
                    break
        seen.append(max(c[:ended]))
        full += ended == horizon
    return {
        "judged": judged,
        "stopped": stops,
        "false": int(wrong),
        "false_rate": wrong / stops if stops else 0.0,
        "min_trials": min_trials,
        "min_epochs": min_epochs,
        "confidence": confidence,
    }
