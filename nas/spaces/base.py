"""What every search space shares: the encoding, the input stem, the head and training choices."""

from __future__ import annotations

import random

import keras
import keras_tuner

from nas import task as task_module
from nas.encoding import Architecture, Choice, validate
from nas.estimation.fidelity import FULL, Fidelity
from nas.inputs import InputSpec
from nas.spaces import ops

SPACE_KEY = "nas/space"  # a Fixed hyperparameter naming the space, for the Trainer


def training_choices() -> list[Choice]:
    """Optimiser, learning rate and weight initialisation: searched in every space. The priors
    favour Adam; the learning rate's prior depends on the optimiser (`ops.LR_PRIORS`)."""
    return [
        Choice("optimizer", ops.OPTIMIZERS, ops.OPTIMIZER_PRIOR),
        Choice("learning_rate", ops.LEARNING_RATES),
        Choice("initializer", ops.INITIALIZERS),
    ]


def learning_rate(lr: float, schedule: str, steps: int):
    """A constant rate, or a schedule over `steps` training steps: `cosine` decays to zero,
    `onecycle` warms up linearly over the first 30% and then decays (a cosine). Without
    `steps` (a caller that does not know them) the rate is constant."""
    if schedule == "constant" or steps <= 1:
        return lr
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, steps)
    warm = max(1, int(0.3 * steps))
    return keras.optimizers.schedules.CosineDecay(
        lr / 10, max(1, steps - warm), warmup_target=lr, warmup_steps=warm
    )


def _optimizer(name: str, lr, weight_decay: float = 0.0):
    wd = {"weight_decay": weight_decay} if weight_decay else {}
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, **wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, **wd)
    return keras.optimizers.Adam(lr, **wd)


class SearchSpace(keras_tuner.HyperModel):
    """A KerasTuner HyperModel over an explicit architecture encoding.

    Subclasses give `architecture_choices()` and `body()`. The stem embeds categorical inputs,
    concatenates tabular ones and reshapes tensor features; the body runs once per tensor feature
    (conv ops) or once on the tabular vector (dense ops); the head is a float32 softmax
    (classification) or one linear output (regression).
    """

    name = ""

    def __init__(self, input_spec: InputSpec, fidelity: Fidelity = FULL, seed: int = 0):
        super().__init__(name=self.name)
        self.input_spec = input_spec
        self.fidelity = fidelity
        self.seed = seed
        self.kind = input_spec.body_kind
        self._choices = self.architecture_choices() + training_choices()
        self._by_name = {c.name: c for c in self._choices}
        if len(self._by_name) != len(self._choices):
            raise ValueError(f"space {self.name!r} declares a choice twice")

    # --- encoding -----------------------------------------------------------------------
    def architecture_choices(self) -> list[Choice]:
        raise NotImplementedError

    def choices(self) -> list[Choice]:
        return list(self._choices)

    def choice(self, name: str) -> Choice:
        return self._by_name[name]

    def hyperparameters(self) -> keras_tuner.HyperParameters:
        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return hp

    def declare(self, hp: keras_tuner.HyperParameters) -> dict:
        values = {c.name: hp.Choice(c.name, list(c.values)) for c in self._choices}
        hp.Fixed(SPACE_KEY, self.name)
        return values

    def architecture(self, values: dict) -> Architecture:
        arch = Architecture.from_values(self.name, values)
        self.validate(arch)
        return arch

    def validate(self, arch: Architecture) -> None:
        validate(self._choices, arch, self.name)

    def sample(self, rng: random.Random) -> Architecture:
        """A random architecture, each choice drawn by its prior (uniform without one)."""
        values = {c.name: c.draw(rng) for c in self._choices}
        prior = ops.LR_PRIORS.get(values["optimizer"])
        if prior:
            lr = self.choice("learning_rate")
            values[lr.name] = rng.choices(lr.values, weights=prior)[0]
        return Architecture(self.name, values)

    def default(self) -> Architecture:
        return Architecture(self.name, {c.name: c.values[0] for c in self._choices})

    def first(self) -> Architecture | None:
        """A known-good network that strategies try before their own proposals (after a warm
        start's seeds), or None. The stages space gives a hand-written CNN's shape."""
        return None

    def describe(self, arch: Architecture) -> str:
        """A one-line summary for leaderboards."""
        c = arch.choices
        return f"{c['optimizer']} lr={c['learning_rate']} init={c['initializer']}"

    def active(self, arch: Architecture) -> list[str]:
        """Choices that change the built model (all, unless a subclass says otherwise)."""
        return [c.name for c in self._choices]

    # --- building -----------------------------------------------------------------------
    def build(self, hp: keras_tuner.HyperParameters):
        """KerasTuner's entry point: declare the choices, then build their model."""
        values = self.declare(hp)
        return self.build_model(Architecture(self.name, values))

    def body(self, x, kind: str, arch: Architecture, fidelity: Fidelity, seeds, prefix: str):
        raise NotImplementedError

    def pool(self, x, kind: str, arch: Architecture, seeds, prefix: str):
        """What a tensor feature's body output becomes before the head (global pooling)."""
        return ops.global_pool(x, kind, f"{prefix}gap")

    def build_model(
        self,
        arch: Architecture,
        fidelity: Fidelity | None = None,
        compile: bool = True,
        steps: int = 0,
    ) -> keras.Model:
        """The model of `arch` at `fidelity` (the space's own by default), compiled unless
        told not to. `steps`: the training steps it will take, for a searched learning-rate
        schedule (0: a constant rate)."""
        self.validate(arch)
        fidelity = fidelity or self.fidelity
        c = arch.choices
        seeds = ops.Seeds(self.seed + 1, c["initializer"])
        inputs, tabular, pooled = {}, [], []
        for f in self.input_spec.features:
            if f.kind == "categorical":
                inputs[f.name] = keras.Input((1,), name=f.name, dtype="int64")
                emb = keras.layers.Embedding(
                    f.size, 4, embeddings_initializer=seeds.kernel(), name=f"{f.name}_embed"
                )(inputs[f.name])
                tabular.append(keras.layers.Flatten(name=f"{f.name}_flat")(emb))
            elif f.kind == "numeric":
                inputs[f.name] = keras.Input((1,), name=f.name, dtype="float32")
                tabular.append(inputs[f.name])
            else:
                inputs[f.name] = keras.Input((f.size,), name=f.name, dtype="float32")
                x = keras.layers.Reshape(f.shape, name=f"{f.name}_shape")(inputs[f.name])
                x = self._lower_resolution(x, f.kind, fidelity, f.name)
                x = self.body(x, f.kind, arch, fidelity, seeds, f"{f.name}_")
                pooled.append(self.pool(x, f.kind, arch, seeds, f"{f.name}_"))
        if not pooled:
            x = ops.concat(tabular, "tabular")
            pooled = [self.body(x, "vector", arch, fidelity, seeds, "")]
        else:
            pooled += tabular
        x = ops.concat(pooled, "features")
        task = task_module.get(self.input_spec.task)
        outputs = task.head(x, self.input_spec, seeds.kernel())
        model = keras.Model(inputs, outputs, name=f"{self.name}_{arch.digest()}")
        if compile:
            lr = learning_rate(c["learning_rate"], c.get("schedule", "constant"), steps)
            model.compile(
                optimizer=_optimizer(c["optimizer"], lr, c.get("weight_decay", 0.0)),
                **task.compile_args(),
            )
        return model

    @staticmethod
    def _lower_resolution(x, kind: str, fidelity: Fidelity, name: str):
        factor = int(round(1 / fidelity.resolution))
        if factor <= 1:
            return x
        dims = ops.spatial(x)
        factor = min(factor, min(dims))
        if factor <= 1:
            return x
        pool = keras.layers.AveragePooling1D if kind == "signal" else keras.layers.AveragePooling2D
        return pool(factor, padding="same", name=f"{name}_lowres")(x)

    def count_params(self, arch: Architecture, fidelity: Fidelity | None = None) -> int:
        return int(self.build_model(arch, fidelity, compile=False).count_params())
