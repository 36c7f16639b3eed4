"""Where the search trains: GPU if there is one, CPU otherwise, on any Keras backend.

- mixed precision as a switch: "auto" (on when a GPU is present), True or False. Layers then
  compute in float16; the head stays float32 (spaces/base.py);
- per backend, a `Backend` setup: how to list its GPUs, how to let one trial not take the
  whole GPU (memory growth), and a data-parallel distribution when there is more than one GPU.

JAX and PyTorch are set up here (keras.distribution.DataParallel on JAX). TensorFlow's setup
(tf.config, memory growth, tf.distribute.MirroredStrategy) is registered by the caller, the
pipeline's `components.nas_tuner.tf_engine.install()`, so the engine never imports TensorFlow;
without it a TensorFlow-backend search trains on the CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import keras


@dataclasses.dataclass
class DeviceInfo:
    """Where a search trains: the backend, its GPUs, the dtype policy and a distribution
    strategy (an object with `.scope()`, or None)."""

    backend: str
    gpus: list
    policy: str
    strategy: object = None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return f"backend={self.backend} device={where} dtype_policy={self.policy}"


def _nothing() -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Backend:
    """How the engine uses one Keras backend's GPUs: `list_gpus()` names them, `grow_memory()`
    lets a trial allocate GPU memory as it needs it, and `distribute()` sets up data-parallel
    training over several GPUs, returning a strategy with `.scope()` or None."""

    list_gpus: Callable[[], list]
    grow_memory: Callable[[], None] = _nothing
    distribute: Callable[[], object] = _nothing


def _torch_gpus() -> list:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def _jax_gpus() -> list:
    import jax

    return [str(d) for d in jax.devices() if d.platform == "gpu"]


def _jax_data_parallel() -> None:
    keras.distribution.set_distribution(keras.distribution.DataParallel())


_BACKENDS: dict[str, Backend] = {
    "torch": Backend(_torch_gpus),
    "jax": Backend(_jax_gpus, distribute=_jax_data_parallel),
}


def register_backend(name: str, backend: Backend) -> None:
    """Set up Keras backend `name` with `backend` (replacing any earlier setup)."""
    _BACKENDS[name] = backend


def list_gpus(backend: str | None = None) -> list:
    """The GPUs the backend's setup sees; [] for a backend without one (CPU)."""
    setup = _BACKENDS.get(backend or keras.backend.backend())
    return setup.list_gpus() if setup is not None else []


def configure(mixed_precision="auto", memory_growth: bool = True) -> DeviceInfo:
    """Set up the backend for a search: memory growth, the dtype policy, and data parallelism
    over more than one GPU."""
    backend = keras.backend.backend()
    setup = _BACKENDS.get(backend)
    if setup is not None and memory_growth:
        setup.grow_memory()
    gpus = list_gpus(backend)
    if mixed_precision == "auto":
        mixed_precision = bool(gpus)
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_dtype_policy(policy)
    strategy = setup.distribute() if setup is not None and len(gpus) > 1 else None
    return DeviceInfo(backend, gpus, policy, strategy)
