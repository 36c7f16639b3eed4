"""What a candidate's latency means: a registry of measures by kind.

"keras" is built in: the model's own call on this machine's backend, median of a few runs after
a warm-up. Other kinds are registered by the caller, because measuring them needs more than the
engine's Keras and numpy: the pipeline registers "tflite" (the dynamic-range TFLite model's
invoke, as on an edge device) with `components.nas_tuner.tf_engine.install()`.

    from nas import latency
    latency.register("tflite", my_tflite_latency_ms)   # fn(model, batch) -> milliseconds
"""

from __future__ import annotations

import time

import keras
import numpy as np


def keras_latency_ms(model, batch, repeats: int = 5) -> float:
    """Median milliseconds of `model(batch)` over `repeats` calls, after a warm-up call."""
    model(batch, training=False)  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = model(batch, training=False)
        keras.ops.convert_to_numpy(out)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


_MEASURES = {"keras": keras_latency_ms}


def register(kind: str, fn) -> None:
    """Make `fn(model, batch) -> milliseconds` the measure of latency kind `kind`."""
    _MEASURES[kind] = fn


def registered() -> list[str]:
    return sorted(_MEASURES)


def require(kind: str) -> None:
    """Fail early, with how to fix it, if no measure is registered for `kind`."""
    if kind not in _MEASURES:
        raise ValueError(
            f"latency {kind!r} has no measure in this process (registered: {registered()}). "
            f"Register one before the search: nas.latency.register({kind!r}, fn) with "
            "fn(model, batch) -> milliseconds; in the pipeline, "
            "components.nas_tuner.tf_engine.install() registers 'tflite'"
        )


def measure(model, batch, kind: str = "keras") -> float:
    """`model`'s latency on `batch` in milliseconds, as latency kind `kind` defines it."""
    require(kind)
    return float(_MEASURES[kind](model, batch))
