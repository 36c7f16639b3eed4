"""A search's settings, as one JSON-able object (the component's exec property, the DAG's
Params and the benchmarks all build one). Unknown keys are an error, so a typo fails loudly."""

from __future__ import annotations

import dataclasses
import json

from nas.estimation.fidelity import Fidelity


@dataclasses.dataclass(frozen=True)
class EstimationConfig:
    fidelity: Fidelity = Fidelity()  # lower fidelity during search; the Trainer uses full
    curve: bool = False  # learning-curve extrapolation early stop
    curve_confidence: float = 0.95
    curve_min_epochs: int = 4
    inherit: bool = False  # children start from their parent's weights
    morph: bool = False  # evolution proposes Net2Net widen/deepen children (chain, tabular)
    halving: bool = False  # successive halving: stop trials outside the top 1/eta at a rung
    halving_rungs: tuple = (1, 3)  # epoch counts at which trials are compared
    halving_eta: int = 3

    def __post_init__(self):
        object.__setattr__(self, "halving_rungs", tuple(self.halving_rungs))
        if any(not isinstance(r, int) or r < 1 for r in self.halving_rungs):
            raise ValueError(
                f"invalid search config: halving_rungs must be epoch counts >= 1, "
                f"got {list(self.halving_rungs)}"
            )
        if self.halving_eta < 2:
            raise ValueError(
                f"invalid search config: halving_eta must be >= 2, got {self.halving_eta}"
            )


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    space: str = "chain"
    strategy: str = "evolution"
    max_trials: int = 10
    epochs: int = 10  # full-fidelity epochs per trial
    batch_size: int = 32
    seed: int = 42
    patience: int = 0  # stop after this many finished trials without improvement (0: never)
    time_budget_min: float = 0.0  # 0: no budget
    compute_budget: int = 0  # training examples x epochs for the whole search (0: no budget)
    surrogate: bool = False
    max_params: int = 0  # prune candidates above this many parameters (0: no limit)
    max_latency_ms: float = 0.0  # prune candidates slower than this per batch (0: no limit)
    # What latency means: "keras" (the model's own call on this machine's backend) or "tflite"
    # (the dynamic-range TFLite model's invoke, as on an edge device; TensorFlow backend only).
    latency: str = "keras"
    mixed_precision: str = "auto"  # "auto" (with a GPU), "on" or "off"
    # "classification" or "regression" (nas/task.py); the objective follows it
    # unless given: val_accuracy (max) or val_rmse (min).
    task: str = "classification"
    objective: str = ""
    estimation: EstimationConfig = EstimationConfig()
    strategy_options: dict = dataclasses.field(default_factory=dict)
    input_overrides: dict = dataclasses.field(default_factory=dict)
    # Parallel trials: worker processes beside this one (KerasTuner's distributed mode, see
    # nas/distributed.py), and how long the chief waits for them all to connect.
    workers: int = 0
    worker_wait_s: float = 120.0
    # Candidates tried before the strategy's own (a warm start): dicts with "label", "space",
    # "choices" and optionally "weights" (a .weights.h5 of that architecture at full fidelity).
    seeds: tuple = ()
    # Your own model beside the candidates: a Python file with build_model(hp, input_spec),
    # trained on the same data and fidelity as one more leaderboard row ("baseline").
    baseline_module: str = ""

    def __post_init__(self):
        from nas import task
        from nas.spaces import SPACES
        from nas.strategies import STRATEGIES

        object.__setattr__(self, "seeds", tuple(dict(s) for s in self.seeds))
        if self.task in task.TASKS and not self.objective:
            object.__setattr__(self, "objective", task.OBJECTIVES[self.task])
        problems = []
        for i, seed in enumerate(self.seeds):
            missing = {"label", "space", "choices"} - set(seed)
            if missing:
                problems.append(f"seed {i} lacks {sorted(missing)}")
        if self.task not in task.TASKS:
            problems.append(f"task {self.task!r} is not one of {list(task.TASKS)}")
        if self.latency not in ("keras", "tflite"):
            problems.append(f"latency {self.latency!r} is not 'keras' or 'tflite'")
        if self.space not in SPACES:
            problems.append(f"space {self.space!r} is not one of {sorted(SPACES)}")
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy {self.strategy!r} is not one of {sorted(STRATEGIES)}")
        if self.max_trials < 1:
            problems.append(f"max_trials must be >= 1, got {self.max_trials}")
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if not isinstance(self.workers, int) or self.workers < 0:
            problems.append(f"workers must be an integer >= 0, got {self.workers!r}")
        if self.compute_budget < 0:
            problems.append(f"compute_budget must be >= 0, got {self.compute_budget}")
        if self.mixed_precision not in ("auto", "on", "off"):
            problems.append(
                f"mixed_precision must be auto, on or off, got {self.mixed_precision!r}"
            )
        if problems:
            raise ValueError("invalid search config: " + "; ".join(problems))

    @property
    def mixed(self):
        return {"auto": "auto", "on": True, "off": False}[self.mixed_precision]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict | None) -> SearchConfig:
        raw = dict(raw or {})
        _reject_unknown(cls, raw, "search config")
        est = dict(raw.pop("estimation", None) or {})
        _reject_unknown(EstimationConfig, est, "estimation")
        if "fidelity" in est:
            est["fidelity"] = Fidelity.from_dict(est["fidelity"])
        return cls(estimation=EstimationConfig(**est), **raw)

    @classmethod
    def from_json(cls, text: str | None) -> SearchConfig:
        return cls.from_dict(json.loads(text) if text else {})


def _reject_unknown(cls, raw: dict, what: str) -> None:
    unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(
            f"unknown {what} keys {sorted(unknown)}; known: "
            f"{sorted(f.name for f in dataclasses.fields(cls))}"
        )
