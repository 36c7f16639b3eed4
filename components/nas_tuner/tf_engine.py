"""The NAS engine's TensorFlow parts, plugged in by the pipeline: the engine (`nas/`) imports
no TensorFlow, so whoever runs it on TensorFlow calls `install()` first.

- the TensorFlow backend's device setup (`nas.device.Backend`): its GPUs from tf.config,
  memory growth (one trial does not take the whole GPU) and tf.distribute.MirroredStrategy
  over more than one GPU;
- the "tflite" latency measure (`nas.latency`): the dynamic-range TFLite model's invoke, as on
  an edge device (`core.tflite.model_latency_ms`).

Without `install()` a TensorFlow-backend search trains on the CPU (no memory growth, no
strategy) and refuses `latency: "tflite"` with a message naming this function.
"""

from __future__ import annotations

import contextlib


def _gpus() -> list:
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def _grow_memory() -> None:
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised: keep its setting
            tf.config.experimental.set_memory_growth(gpu, True)


def _mirrored():
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def tflite_latency_ms(model, batch) -> float:
    """The model's dynamic-range TFLite latency on `batch` (looked up when called)."""
    from core import tflite

    return tflite.model_latency_ms(model, batch)


def install() -> None:
    """Register the TensorFlow device setup and the "tflite" latency with the engine (for
    this process; calling it again changes nothing)."""
    from nas import device, latency

    device.register_backend(
        "tensorflow",
        device.Backend(list_gpus=_gpus, grow_memory=_grow_memory, distribute=_mirrored),
    )
    latency.register("tflite", tflite_latency_ms)
