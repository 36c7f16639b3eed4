"""What a model's inputs look like, whatever produced them (Transform output or numpy arrays).

Kinds:
- `numeric`: one float per example (tabular).
- `categorical`: one integer id per example, `size` = vocabulary size including OOV buckets.
- `signal`: a fixed-length float vector treated as a 1-D signal, shape (length, channels).
- `image`: a fixed-length float vector reshaped to (height, width, channels).
- `tokens`: a fixed-length sequence of integer word ids (free text), `size` = vocabulary size
  including the padding id 0 and OOV buckets, `shape` = (length,). The text ops
  (nas/spaces/text.py) encode it into a vector that joins the tabular ones.

Inference: a float feature of length 1 is numeric, an integer feature of length 1 categorical
and longer one tokens, a float feature of fixed length > 1 is a signal unless a shape of rank 2
or 3 is given (then an image).
`overrides` maps a feature name to a kind or to {"kind": ..., "shape": [...]}.
"""

from __future__ import annotations

import dataclasses
import json
import math

KINDS = ("numeric", "categorical", "signal", "image", "tokens")


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input: its name, its kind (see the module's docstring), its size and, for
    signals and images, its shape."""

    name: str
    kind: str
    size: int = 1  # vocabulary size for categorical and tokens, flat length otherwise
    shape: tuple = ()  # signal: (length, channels); image: (height, width, channels); tokens:
    # (length,)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"feature {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "tokens" and len(self.shape) != 1:
            raise ValueError(f"feature {self.name!r}: tokens need a shape (length,)")
        if self.kind in ("signal", "image") and math.prod(self.shape) != self.size:
            raise ValueError(
                f"feature {self.name!r}: shape {list(self.shape)} does not hold {self.size} values"
            )


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model takes and predicts: its input features, its output count and its task
    (with the label's scale for regression). Serialised as JSON."""

    features: tuple
    n_outputs: int  # classes; 1 for regression
    task: str = "classification"  # or "regression" (nas/task.py)
    # Regression: the training labels' mean and standard deviation. The head predicts in
    # standard units and rescales, so a label of any scale trains at the usual learning rates.
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def tabular(self) -> list[Feature]:
        return [f for f in self.features if f.kind in ("numeric", "categorical")]

    @property
    def texts(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "tokens"]

    @property
    def tensors(self) -> list[Feature]:
        return [f for f in self.features if f.kind in ("signal", "image")]

    @property
    def body_kind(self) -> str:
        """What the searched body runs on: conv ops for tensor inputs, dense ops otherwise."""
        kinds = {f.kind for f in self.tensors}
        if "image" in kinds:
            return "image"
        if "signal" in kinds:
            return "signal"
        return "vector"

    def to_json(self) -> str:
        return json.dumps(
            {
                "features": [dataclasses.asdict(f) for f in self.features],
                "n_outputs": self.n_outputs,
                "task": self.task,
                "target_mean": self.target_mean,
                "target_std": self.target_std,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> InputSpec:
        raw = json.loads(text)
        feats = tuple(
            Feature(f["name"], f["kind"], int(f["size"]), tuple(f["shape"]))
            for f in raw["features"]
        )
        return cls(
            feats,
            int(raw["n_outputs"]),
            raw.get("task", "classification"),
            float(raw.get("target_mean", 0.0)),
            float(raw.get("target_std", 1.0)),
        )


def infer_feature(
    name: str, is_integer: bool, length: int, vocab: int = 0, override=None
) -> Feature:
    """One feature's kind from its dtype and fixed length, unless `override` says otherwise."""
    if isinstance(override, str):
        override = {"kind": override}
    override = dict(override or {})
    shape = tuple(int(d) for d in override.get("shape", ()))
    kind = override.get("kind")
    if kind is None:
        if is_integer:
            kind = "categorical" if length == 1 else "tokens"
        elif length == 1 and not shape:
            kind = "numeric"
        elif len(shape) in (2, 3):
            kind = "image"
        else:
            kind = "signal"
    if kind in ("categorical", "tokens"):
        vocab = int(override.get("size", vocab))
        if not vocab:
            raise ValueError(
                f"{kind} feature {name!r} needs a vocabulary size: give it as "
                f"input_overrides {{{name!r}: {{'kind': {kind!r}, 'size': N}}}}"
            )
        return Feature(name, kind, int(vocab), (length,) if kind == "tokens" else ())
    if kind == "numeric":
        if length != 1:
            raise ValueError(f"feature {name!r} has {length} values; numeric needs 1")
        return Feature(name, kind, 1)
    if kind == "signal":
        shape = shape or (length, 1)
        if len(shape) == 1:
            shape = (shape[0], 1)
        if len(shape) != 2:
            raise ValueError(
                f"signal feature {name!r} needs shape (length[, channels]), got {shape}"
            )
        return Feature(name, kind, length, shape)
    if kind == "image":
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3:
            raise ValueError(
                f"image feature {name!r} needs shape (height, width[, channels]), got {shape}"
            )
        return Feature(name, kind, length, shape)
    raise ValueError(f"feature {name!r}: kind {kind!r} is not one of {KINDS}")


def from_arrays(
    arrays: dict,
    n_outputs: int,
    vocab: dict | None = None,
    overrides=None,
    task: str = "classification",
):
    """An InputSpec for a dict of numpy arrays [examples, ...] (benchmarks, tests)."""
    vocab, overrides = dict(vocab or {}), dict(overrides or {})
    feats = []
    for name in sorted(arrays):
        a = arrays[name]
        length = int(math.prod(a.shape[1:])) if a.ndim > 1 else 1
        is_int = a.dtype.kind in "iu"
        feats.append(infer_feature(name, is_int, length, vocab.get(name, 0), overrides.get(name)))
    return InputSpec(tuple(feats), int(n_outputs), task)
