"""Where the search trains: GPU if there is one, CPU otherwise, on any Keras backend.

- memory growth (TensorFlow backend), so one trial does not take the whole GPU;
- mixed precision as a switch: "auto" (on when a GPU is present), True or False. Layers then
  compute in float16; the head stays float32 (spaces/base.py);
- a data-parallel distribution when there is more than one GPU (tf.distribute.MirroredStrategy
  on TensorFlow, keras.distribution.DataParallel on JAX).
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras


@dataclasses.dataclass
class DeviceInfo:
    backend: str
    gpus: list
    policy: str
    strategy: object = None  # a tf.distribute strategy, or None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return f"backend={self.backend} device={where} dtype_policy={self.policy}"


def list_gpus(backend: str | None = None) -> list:
    backend = backend or keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    return []


def configure(mixed_precision="auto", memory_growth: bool = True) -> DeviceInfo:
    backend = keras.backend.backend()
    if backend == "tensorflow" and memory_growth:
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):  # already initialised: keep its setting
                tf.config.experimental.set_memory_growth(gpu, True)
    gpus = list_gpus(backend)
    if mixed_precision == "auto":
        mixed_precision = bool(gpus)
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_dtype_policy(policy)
    strategy = None
    if len(gpus) > 1:
        if backend == "tensorflow":
            import tensorflow as tf

            strategy = tf.distribute.MirroredStrategy()
        elif backend == "jax":
            keras.distribution.set_distribution(keras.distribution.DataParallel())
    return DeviceInfo(backend, gpus, policy, strategy)
