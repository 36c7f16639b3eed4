"""A search's settings: every knob of the engine declared once, with its default, its bounds or
allowed values and a line of documentation (the field's metadata, see `knob`).

Standard library only, so the pipeline's settings contract (`core/settings.py`) reads these
declarations on both sides, the Airflow DAG included, and derives its search settings from them.
`SearchConfig` validates itself from the same metadata, and unknown keys are an error, so a typo
fails loudly.
"""

from __future__ import annotations

import dataclasses
import json

from nas.estimation.fidelity import Fidelity
from nas.knobs import declared, knob, problems_of
from nas.task import CLASS_WEIGHTS, RARE_SHARE
from nas.task import NAMES as TASKS

# The engine's catalogues. The registries in nas/spaces and nas/strategies map these names to
# their classes (and check at import that they cover exactly these).
SPACES = ("chain", "graph", "cells", "stages")
AUTO = "auto"  # the space by the data: stages for signals and images, chain for tables
STRATEGIES = ("evolution", "reinforce", "random", "bayesian", "hyperband", "grid")
LATENCIES = ("keras", "tflite")
MIXED_PRECISION = ("auto", "on", "off")
# A scored validation sample is at least this many rows: below it, a score's standard error
# (about 0.003 at accuracy 0.9) is too wide to rank candidates that differ by a point.
MIN_VALIDATION_SAMPLE = 10_000
# row_fidelity "auto" turns on from this many training rows (nas/estimation/halving.py).
ROW_FIDELITY_ROWS = 100_000
# Every batch size a candidate can train with: one list for every table, so an architecture
# found on one rebuilds anywhere. The training rows narrow what a search offers
# (nas/spaces/base.py `batch_sizes`).
BATCH_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything one search depends on: what is searched (space, strategy, budgets), how
    candidates are estimated (fidelity, curve stop, inheritance, morphism, successive halving),
    and where (device, parallel trials). Build it with `from_dict` from JSON-able values."""

    space: str = knob(
        AUTO,
        "NAS search space: chain (layers in sequence), graph (branches and skip connections), "
        "cells (normal and reduction cells) or stages (downsampling stages of conv, residual, "
        "inverted-bottleneck or separable blocks; signals and images only). auto: stages for "
        "signal and image features, chain for tabular data (bench/vision/RESULTS.md).",
        choices=(AUTO, *SPACES),
    )
    strategy: str = knob(
        "evolution",
        "NAS search strategy: regularized evolution, REINFORCE controller, or KerasTuner's "
        "random, Bayesian, Hyperband, grid.",
        choices=STRATEGIES,
    )
    max_trials: int = knob(3, "Search trials.", minimum=1)
    epochs: int = knob(
        10,
        "Full-fidelity epochs per trial (the Trainer's most: the operator's train_epochs, by "
        "default five times these).",
        minimum=1,
    )
    batch_size: int = knob(
        0,
        "Rows per training batch. 0: searched, from the sizes that make an epoch over the "
        "training rows 512 to 2,048 steps (32 for 16,000 rows, 128 to 256 for 160,000, 1,024 "
        "to 2,048 for 1.6 million: fewer, bigger batches trained a teacher-network table of "
        "160,000 rows to 0.887 in six epochs at 2,048, 0.903 at 256); a size fixes it.",
        choices=(0, *BATCH_SIZES),
    )
    validation_sample: int = knob(
        50_000,
        "Validation rows every trial is scored on: all of them when there are fewer, else this "
        "fixed sample, the same rows for every trial (0: all, always; else at least 10,000). "
        "50,000 rows put a score's standard error at 0.0022 or less, and scoring them costs "
        "about what training on a sixth as many rows does.",
        minimum=0,
    )
    seed: int = knob(42, "Seed of the search's proposals and of each trial.", minimum=1)
    class_weight: str = knob(
        "none",
        "Classification: weigh each class by n / (k x its rows) in training (the loss; the "
        f"validation loss and scores are not weighted). auto: when the smallest class holds "
        f"less than {RARE_SHARE:.0%} of the training rows; balanced: always; none: never. "
        "Measured on rare positives (bench/rare/RESULTS.md), with the decision threshold chosen "
        "on the validation rows, weights lost PR AUC (0.50 against 0.57 unweighted at 1% "
        "positives) and calibration, so the default is none.",
        choices=CLASS_WEIGHTS,
    )
    time_budget_min: float = knob(
        30.0,
        "Search time budget in minutes: the search stops at the batch in which it is spent (and "
        "starts no epoch it cannot finish and score in what is left). "
        "The Trainer's retraining on every training row gets as long again: the full passes "
        "that fit in it at the search's measured costs, at least one, at most train_epochs "
        "(pipelines/trainer_budget.py).",
        exclusive_minimum=0,
    )
    plan: str = knob(
        AUTO,
        "With a time budget, plan the search from the first trial's measured throughput "
        "(nas/estimation/planner.py): the trials after it train on a share of the training "
        "rows and fewer epochs where plan_min_trials trials of every row and every epoch do "
        "not fit in the budget (at 1.6 million rows a 4-minute budget ran one trial without "
        "it; bench/scale/RESULTS.md). A small table keeps every row and epoch. auto: on; off: "
        "trials at the search fidelity until the budget runs out.",
        choices=(AUTO, "off"),
    )
    plan_min_trials: int = knob(
        8,
        "Trials the plan makes room for (at most max_trials): fewer than this is not a search "
        "(evolution's first population, a few halving rungs' worth of candidates).",
        minimum=1,
    )
    patience: int = knob(
        0, "Stop after this many finished trials without improvement (0: never).", minimum=0
    )
    compute_budget: int = knob(
        0, "Training examples x epochs for the whole search (0: no budget).", minimum=0
    )
    surrogate: bool = knob(False, "Rank a pool of proposals with a surrogate model first.")
    max_params: int = knob(
        0, "Prune candidates above this many parameters (0: no limit).", minimum=0
    )
    max_latency_ms: float = knob(
        0.0, "Prune candidates slower than this per batch, in ms (0: no limit).", minimum=0
    )
    latency: str = knob(
        "keras",
        "What latency means: keras (the model's own call on this machine's backend) or tflite "
        "(the dynamic-range TFLite model's invoke, as on an edge device; needs a measure "
        "registered by the caller, see nas/latency.py).",
        choices=LATENCIES,
    )
    mixed_precision: str = knob(
        "auto", "Mixed precision: auto (with a GPU), on or off.", choices=MIXED_PRECISION
    )
    search_fidelity: Fidelity = knob(
        Fidelity(),
        'Lower fidelity during search, e.g. {"epochs": 3, "data_fraction": 0.5, "width": 0.5}. '
        "Empty: full fidelity. The Trainer always trains at full fidelity.",
    )
    curve_stop: bool = knob(True, "Stop trials whose learning curve cannot beat the best.")
    curve_confidence: float = knob(
        0.95, "Confidence of the learning-curve stop.", exclusive_minimum=0, maximum=1
    )
    curve_min_epochs: int = knob(4, "Epochs before the learning-curve stop may act.", minimum=1)
    curve_min_trials: int = knob(
        5,
        "The learning-curve stop waits until this many trials have trained all their epochs, "
        "or until curve_wait_share of the time budget is spent: a bar set by the first few "
        "trials stops good candidates early.",
        minimum=1,
    )
    curve_wait_share: float = knob(
        0.25,
        "Share of the time budget after which the learning-curve stop acts even with fewer "
        "than curve_min_trials full trials.",
        minimum=0,
        maximum=1,
    )
    inherit_weights: bool = knob(True, "Start children from their parent's trained weights.")
    morphism: bool = knob(
        False, "Evolution proposes function-preserving widen/deepen children (Net2Net)."
    )
    successive_halving: bool = knob(
        False, "At epochs 1 and 3, stop trials outside the top third of earlier trials."
    )
    halving_rungs: tuple = knob((1, 3), "Epoch counts at which successive halving compares.")
    halving_eta: int = knob(3, "Successive halving keeps the top 1/eta at a rung.", minimum=2)
    row_fidelity: str = knob(
        AUTO,
        "Successive halving on row subsamples: a trial's epochs up to halving rung i train on "
        "halving_row_fractions[i] of the training rows (after the last rung: all of them), "
        "and a trial outside the top 1/halving_eta at a rung stops there. on; off; auto: on "
        f"from {ROW_FIDELITY_ROWS:,} training rows, where an epoch is long and a ninth of "
        "it still holds over 10,000 rows (bench/nas/RESULTS.md, the rank study).",
        choices=(AUTO, "on", "off"),
    )
    halving_row_fractions: tuple = knob(
        (1 / 9, 1 / 3),
        "Row fidelity's shares of the training rows for the epochs up to each halving rung, "
        "in rung order, each in (0, 1] and none below the one before; a rung without one "
        "trains on all rows.",
    )
    reevaluate_top: int = knob(
        3,
        "Before choosing the winner, train the top k candidates again with other seeds at "
        "full fidelity and choose on the mean score (1: the best single score wins).",
        minimum=1,
    )
    reevaluate_runs: int = knob(
        2, "Extra training runs, each with its own seed, per re-evaluated candidate.", minimum=1
    )
    reevaluate_share: float = knob(
        0.25,
        "At most this share of the time budget is kept for the re-evaluation: the search stops "
        "when what is left is one round of it (the top candidates' measured training time).",
        minimum=0,
        maximum=0.9,
    )
    strategy_options: dict = knob(
        {}, "Options for the strategy's oracle, e.g. population_size for evolution."
    )
    input_overrides: dict = knob(
        {}, 'Feature kinds or shapes, e.g. {"pixels_xf": {"shape": [8, 8]}}.'
    )
    parallel_trials: int = knob(
        0,
        "Worker tasks that run search trials beside the Tuner (KerasTuner's distributed mode: "
        "one oracle, N workers). They run in the gpu pool with the Tuner, so give the pool "
        "N + 1 slots. 0: the Tuner alone.",
        minimum=0,
        maximum=64,
    )
    worker_wait_s: float = knob(
        120.0, "How long a parallel search's chief waits for its workers.", exclusive_minimum=0
    )
    baseline_module: str = knob(
        "",
        "Your own model as a baseline: a Python file with build_model(hp, input_spec) (see "
        "examples/baseline_model.py), trained beside the candidates on the same data and "
        "budget, listed as 'baseline' on the leaderboard, pushed if it wins.",
    )
    task: str = knob("classification", "The resolved task type.", choices=TASKS, internal=True)
    objective: str = knob("", "Metric to optimise; empty: the task's.", internal=True)
    # Candidates tried before the strategy's own (a warm start): dicts with "label", "space",
    # "choices" and optionally "weights" (a .weights.h5 of that architecture at full fidelity).
    seeds: tuple = knob((), "Warm-start candidates.", internal=True)

    def __post_init__(self):
        from nas import task

        object.__setattr__(self, "seeds", tuple(dict(s) for s in self.seeds))
        object.__setattr__(self, "halving_rungs", tuple(self.halving_rungs))
        object.__setattr__(self, "halving_row_fractions", tuple(self.halving_row_fractions))
        if self.task in TASKS and not self.objective:
            object.__setattr__(self, "objective", task.get(self.task).objective)
        problems = problems_of(self)
        for i, seed in enumerate(self.seeds):
            missing = {"label", "space", "choices"} - set(seed)
            if missing:
                problems.append(f"seed {i} lacks {sorted(missing)}")
        if 0 < self.validation_sample < MIN_VALIDATION_SAMPLE:
            problems.append(
                f"validation_sample={self.validation_sample} must be 0 (all rows) or at least "
                f"{MIN_VALIDATION_SAMPLE:,}: fewer rows cannot rank candidates"
            )
        if any(not isinstance(r, int) or r < 1 for r in self.halving_rungs):
            problems.append(
                f"halving_rungs must be epoch counts >= 1, got {list(self.halving_rungs)}"
            )
        fractions = self.halving_row_fractions
        if any(
            isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1
            for f in fractions
        ) or list(fractions) != sorted(fractions):
            problems.append(
                f"halving_row_fractions must be shares in (0, 1], none below the one before, "
                f"got {list(fractions)}"
            )
        if problems:
            raise ValueError("invalid search config: " + "; ".join(problems))

    def resolved(self, input_spec) -> SearchConfig:
        """This config with the `auto` space resolved for `input_spec`'s features."""
        if self.space != AUTO:
            return self
        space = "chain" if input_spec.body_kind == "vector" else "stages"
        return dataclasses.replace(self, space=space)

    @property
    def plans(self) -> bool:
        """Whether the search plans trials x rows x epochs for its time budget."""
        return self.plan == AUTO

    def row_fidelity_on(self, train_rows: int) -> bool:
        """Whether halving's rungs train on row subsamples for `train_rows` training rows."""
        if self.row_fidelity == AUTO:
            return train_rows >= ROW_FIDELITY_ROWS
        return self.row_fidelity == "on"

    @property
    def reevaluates(self) -> bool:
        return self.reevaluate_top > 1

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(
                f"unknown search config keys {sorted(unknown)}; known: {sorted(known)}"
            )
        if "search_fidelity" in raw and not isinstance(raw["search_fidelity"], Fidelity):
            raw["search_fidelity"] = Fidelity.from_dict(raw["search_fidelity"])
        return cls(**raw)

    @classmethod
    def from_json(cls, text: str | None) -> SearchConfig:
        return cls.from_dict(json.loads(text) if text else {})


__all__ = ["AUTO", "SPACES", "STRATEGIES", "SearchConfig", "declared"]
