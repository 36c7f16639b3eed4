"""What every search space shares: the encoding, the input stem, the head and training choices.

The batch size is a training choice like the optimiser's: one global list of values
(`nas.config.BATCH_SIZES`), so an architecture found on one table rebuilds on any other, and
hyperparameters from before it was searched rebuild with `DEFAULT_BATCH_SIZE`. The training
rows only narrow what the space offers its strategy (`batch_sizes`): sizes that make an epoch
between `MIN_STEPS` and `MAX_STEPS` steps, so a bigger table gets bigger batches.
"""

from __future__ import annotations

import math
import random

import keras
import keras_tuner

from nas import task as task_module
from nas.config import BATCH_SIZES
from nas.encoding import Architecture, Choice, validate
from nas.estimation.fidelity import FULL, Fidelity
from nas.inputs import InputSpec
from nas.spaces import ops, text

SPACE_KEY = "nas/space"  # a Fixed hyperparameter naming the space, for the Trainer
BATCH_SIZE = "batch_size"  # the training choice's name
DEFAULT_BATCH_SIZE = 32  # the batch size of architectures from before it was searched
MIN_STEPS, MAX_STEPS = 512, 2048  # the steps of an epoch the offered batch sizes make


def batch_sizes(rows: int) -> tuple[int, ...]:
    """The batch sizes a search over `rows` training rows offers: every size in BATCH_SIZES
    with rows / MAX_STEPS <= size <= rows / MIN_STEPS (an epoch of 512 to 2,048 steps: a small
    network learns from steps, and six epochs of 2,048-row batches left one at 0.887 on 160,000
    rows where 256-row batches reached 0.903); where none fits, the nearest end of the list.
    All of them when `rows` is unknown (0)."""
    if rows <= 0:
        return BATCH_SIZES
    fit = tuple(b for b in BATCH_SIZES if rows / MAX_STEPS <= b <= rows / MIN_STEPS)
    if fit:
        return fit
    return BATCH_SIZES[:1] if rows / MIN_STEPS < BATCH_SIZES[0] else BATCH_SIZES[-1:]


def batch_size_of(values: dict, default: int = DEFAULT_BATCH_SIZE) -> int:
    """The batch size a candidate trains with, from its architecture's choices or its
    hyperparameters' values: `default` for values from before it was searched (and for the
    user's baseline model)."""
    return int(values.get(BATCH_SIZE) or default)


def training_choices(offered_batch_sizes=BATCH_SIZES) -> list[Choice]:
    """Optimiser, learning rate, weight initialisation and batch size: searched in every
    space. The priors favour Adam; the learning rate's prior depends on the optimiser
    (`ops.LR_PRIORS`)."""
    return [
        Choice("optimizer", ops.OPTIMIZERS, ops.OPTIMIZER_PRIOR),
        Choice("learning_rate", ops.LEARNING_RATES),
        Choice("initializer", ops.INITIALIZERS),
        Choice(BATCH_SIZE, tuple(offered_batch_sizes)),
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
    encodes text (word ids: the network-wide text choices, nas/spaces/text.py), concatenates
    both with the numbers and reshapes tensor features; the body runs once per tensor feature
    (conv ops) or once on the tabular vector (dense ops); the head is a float32 softmax
    (classification) or one linear output (regression).

    `rows` (the training rows; 0: unknown) narrows the batch sizes offered to the strategy,
    and `batch_size` > 0 fixes it: `choices()`, `choice()`, `sample()` and the KerasTuner
    hyperparameters offer the narrowed values, while `validate` accepts every value of the
    global list.
    """

    name = ""

    def __init__(
        self,
        input_spec: InputSpec,
        fidelity: Fidelity = FULL,
        seed: int = 0,
        rows: int = 0,
        batch_size: int = 0,
    ):
        super().__init__(name=self.name)
        self.input_spec = input_spec
        self.fidelity = fidelity
        self.seed = seed
        self.kind = input_spec.body_kind
        arch = self.architecture_choices() + text.choices(input_spec)
        self._all = arch + training_choices()  # what an architecture may hold
        self._choices = arch + training_choices((batch_size,) if batch_size else batch_sizes(rows))
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
        """The architecture of hyperparameter `values` (or choices), completed and checked."""
        arch = self.complete(Architecture.from_values(self.name, values))
        self.validate(arch)
        return arch

    def complete(self, arch: Architecture) -> Architecture:
        """`arch` with the batch size it had before the batch size was searched, if missing."""
        if BATCH_SIZE in arch.choices:
            return arch
        return Architecture(arch.space, {**arch.choices, BATCH_SIZE: DEFAULT_BATCH_SIZE})

    def offer(self, arch: Architecture) -> Architecture:
        """`arch` with its batch size moved to the nearest this space offers (a warm start's
        champion, found on another table, tried on this one)."""
        arch = self.complete(arch)
        offered = self.choice(BATCH_SIZE).values
        batch = arch.choices[BATCH_SIZE]
        if batch in offered:
            return arch
        nearest = min(offered, key=lambda b: abs(math.log(b / batch)))
        return Architecture(arch.space, {**arch.choices, BATCH_SIZE: nearest})

    def validate(self, arch: Architecture) -> None:
        validate(self._all, arch, self.name)

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
        batch = c.get(BATCH_SIZE, DEFAULT_BATCH_SIZE)
        training = f"{c['optimizer']} lr={c['learning_rate']} init={c['initializer']}"
        return f"{text.describe(c)}{training} batch={batch}"

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
        arch = self.complete(arch)
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
            elif f.kind == "tokens":
                inputs[f.name] = keras.Input(f.shape, name=f.name, dtype="int64")
                tabular.append(text.encode(inputs[f.name], f, c, fidelity, seeds, f"{f.name}_"))
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
