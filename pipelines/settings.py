"""The pipeline's settings: what every node of a run depends on, read from JSON (the DAG's
Params plus the operator's RETRAIN_SETTINGS) and validated once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from pipelines.task import TASKS  # no heavy imports

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"

# The NAS engine's registries (components/nas), repeated here so that reading Settings does not
# import Keras; tests/nas/test_config.py keeps them equal.
SPACES = ("chain", "graph", "cells")
STRATEGIES = ("grid", "random", "bayesian", "hyperband", "evolution", "reinforce")
MODES = ("full", "warm", "retrain")  # components/nas_tuner/modes.py


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the pipeline depends on. Relative paths are relative to the repository."""

    # data location and label
    data: str = "data/penguins"
    # The label column. Empty: the `label` of the data folder's dataset.json, else "species".
    label: str = ""
    # where artifacts and metadata live
    pipeline_name: str = "retrain"
    pipeline_root: str = str(LOCAL / "pipeline_root")
    metadata_path: str = str(LOCAL / "metadata.sqlite")
    # Empty: the SQLite file above. postgresql://USER@HOST:PORT/DBNAME for production, with the
    # password in $RETRAIN_MLMD_PASSWORD (pipelines/metadata_config.py). $RETRAIN_MLMD_URI too.
    metadata_uri: str = ""
    # module settings
    # Alone in its folder: TFX packages every module beside it into the user-code wheel, whose
    # hash is part of the cache key.
    module_file: str = str(REPO / "pipelines" / "user_module" / "model_module.py")
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 32
    seed: int = 42
    # data validation (components/data_validator): a curated schema file (empty: the schema of
    # the last accepted data is the reference), drift limits against the previous span (0: off)
    # and accepted anomalies, e.g. ["island:ENUM_TYPE_UNEXPECTED_STRING_VALUES"].
    schema_file: str = ""
    drift_threshold: float = 0.3
    drift_thresholds: dict = dataclasses.field(default_factory=dict)  # per column
    allowed_anomalies: tuple[str, ...] = ()
    # "auto" infers classification or regression from the label (pipelines/task.py); or name one.
    task: str = "auto"
    # thresholds. Classification: accuracy at least this, and at most this drop against the
    # champion. Regression: RMSE at most rmse_threshold (0: no absolute bound), and at most
    # max_rmse_increase (relative: 0.05 = 5%) above the champion's.
    accuracy_threshold: float = 0.9
    max_accuracy_drop: float = 0.02  # allowed drop against the baseline (change threshold)
    rmse_threshold: float = 0.0
    max_rmse_increase: float = 0.05
    # search settings (components/nas): space, strategy, budget and performance estimation
    space: str = "chain"
    strategy: str = "evolution"
    max_trials: int = 3
    time_budget_min: float = 30.0
    curve_stop: bool = True  # stop trials whose learning curve cannot beat the best
    inherit_weights: bool = True  # children start from their parent's weights
    successive_halving: bool = False  # at epochs 1 and 3 keep only the top third of trials
    morphism: bool = False  # evolution proposes function-preserving widen/deepen children
    search_fidelity: dict = dataclasses.field(default_factory=dict)  # e.g. {"epochs": 3}
    # Worker processes that run trials beside the Tuner node (KerasTuner's distributed mode;
    # the DAG maps one TunerWorker task per worker). 0: the Tuner alone.
    parallel_trials: int = 0
    # Retraining mode (components/nas_tuner/modes.py): "full" searches afresh; "warm" runs a
    # quarter of the trials, seeded with the champion (and its weights) and the last leader;
    # "retrain" retrains the champion's architecture from its weights, with no search.
    mode: str = "full"
    # A candidate of an earlier search to train at full fidelity instead of searching:
    # "TRIAL" (of the latest search) or "RUN_ID:TRIAL", as `make leaderboard` lists them.
    promote_trial: str = ""
    # Your own model beside the candidates: a file with build_model(hp, input_spec), e.g.
    # examples/baseline_model.py (nas/baseline.py).
    baseline_module: str = ""
    # Any other SearchConfig key: patience, compute_budget, surrogate, max_params,
    # max_latency_ms, mixed_precision, strategy_options, input_overrides.
    nas: dict = dataclasses.field(default_factory=dict)
    # MLflow registry. Empty tracking URI: $MLFLOW_TRACKING_URI, else an SQLite store beside the
    # ML Metadata file (never MLflow's own default, mlflow.db in the current directory).
    # Empty: the data folder's dataset.json `registered_model_name`, else penguin_classifier.
    registered_model_name: str = ""
    mlflow_tracking_uri: str = ""
    # With each registered version: permutation and SHAP importance on the eval split, and the
    # TFLite files (the Trainer converts, the pusher measures). components/mlflow_pusher/insight.py
    explain: bool = True
    edge_export: bool = True
    # The data profile (components/data_validator/profile.py), logged with every validation.
    data_profile: bool = True
    # Extra lineage tags for the registered version, e.g. the Airflow dag_id and run_id.
    lineage: dict = dataclasses.field(default_factory=dict)
    # Beam. Empty means Beam's local DirectRunner. Any non-empty list makes TFX build an sdist of
    # itself for remote workers on every Beam node unless it names --setup_file/--extra_package.
    beam_pipeline_args: tuple[str, ...] = ()

    def __post_init__(self):
        manifest = read_manifest(self.path(self.data))
        if not self.label:
            object.__setattr__(self, "label", manifest.get("label") or "species")
        if not self.registered_model_name:
            name = manifest.get("registered_model_name") or "penguin_classifier"
            object.__setattr__(self, "registered_model_name", name)

    @classmethod
    def from_json(cls, text: str | None) -> Settings:
        """Settings from a JSON object (Airflow's Params). Unknown keys are an error."""
        raw = json.loads(text) if text else {}
        if not isinstance(raw, dict):
            raise ValueError(f"settings must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        for key in ("beam_pipeline_args", "allowed_anomalies"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw).validated()

    def validated(self) -> Settings:
        problems = []
        if not 0.0 <= self.accuracy_threshold <= 1.0:
            problems.append(f"accuracy_threshold={self.accuracy_threshold} is not in [0, 1]")
        if self.space not in SPACES:
            problems.append(f"space={self.space!r} is not one of {list(SPACES)}")
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy={self.strategy!r} is not one of {list(STRATEGIES)}")
        limits = {"*": self.drift_threshold, **self.drift_thresholds}
        bad = {k: v for k, v in limits.items() if not isinstance(v, (int, float)) or v < 0}
        if bad:
            problems.append(f"drift thresholds {bad} must be numbers >= 0")
        from components.data_validator.checks import check_allow_entries

        bad_allow = check_allow_entries(self.allowed_anomalies)
        if bad_allow:
            problems.append(
                f"allowed_anomalies {bad_allow}: each entry is 'column', 'column:KIND' or "
                "'*:KIND' (accepting everything is not allowed)"
            )
        if self.task not in ("auto", *TASKS):
            problems.append(f"task={self.task!r} is not one of {['auto', *TASKS]}")
        if self.rmse_threshold < 0 or self.max_rmse_increase < 0:
            problems.append(
                f"rmse_threshold={self.rmse_threshold} and max_rmse_increase="
                f"{self.max_rmse_increase} must be >= 0"
            )
        if self.mode not in MODES:
            problems.append(f"mode={self.mode!r} is not one of {list(MODES)}")
        if self.baseline_module and not os.path.isfile(self.path(self.baseline_module)):
            problems.append(f"baseline_module {self.path(self.baseline_module)} is not a file")
        if self.max_trials < 1:
            problems.append(f"max_trials={self.max_trials} must be >= 1")
        if not isinstance(self.parallel_trials, int) or self.parallel_trials < 0:
            problems.append(f"parallel_trials={self.parallel_trials!r} must be an integer >= 0")
        if self.time_budget_min <= 0:
            problems.append(f"time_budget_min={self.time_budget_min} must be > 0")
        if self.metadata_uri:
            from pipelines.metadata_config import postgres_target

            try:
                postgres_target(self.metadata_uri)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))
        return self

    def resolved_task(self) -> tuple[str, str]:
        """(task, why): the setting, or inferred from the label column of the data."""
        from pipelines.task import resolve

        return resolve(self.task, self.path(self.data), self.label)

    def search_config(self, task: str = "classification") -> dict:
        """The NAS component's SearchConfig, as a dict."""
        return {
            "task": task,
            "space": self.space,
            "strategy": self.strategy,
            "max_trials": self.max_trials,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "time_budget_min": self.time_budget_min,
            "parallel_trials": self.parallel_trials,
            "baseline_module": self.path(self.baseline_module) if self.baseline_module else "",
            "search_fidelity": dict(self.search_fidelity),
            "curve_stop": self.curve_stop,
            "inherit_weights": self.inherit_weights,
            "successive_halving": self.successive_halving,
            "morphism": self.morphism,
            **self.nas,
        }

    def drift(self) -> dict[str, float]:
        return {"*": self.drift_threshold, **self.drift_thresholds}

    def path(self, value: str) -> str:
        return str((REPO / value).resolve()) if not os.path.isabs(value) else value

    @property
    def nas_state_root(self) -> str:
        """The search's resumable state, outside TFX's output directories (the NAS tuner keys
        it by run and node inside; parallel-trials workers find it there too)."""
        return os.path.join(self.path(self.pipeline_root), "_nas_state")

    @property
    def nas_experiment(self) -> str:
        """The MLflow experiment of the searches (`make leaderboard` reads it)."""
        return f"{self.pipeline_name}-nas"

    @property
    def data_experiment(self) -> str:
        """The MLflow experiment of the data profiles (one run per validation)."""
        return f"{self.pipeline_name}-data"

    def tracking(self) -> tuple[str, str]:
        """(tracking URI, local artifact location or "" for a tracking server)."""
        uri = self.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if uri:
            return uri, ""
        state = Path(self.path(self.metadata_path)).parent
        return f"sqlite:///{state / 'mlflow.db'}", str(state / "mlartifacts")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


# Beside the data: {"label": ..., "registered_model_name": ...}, the defaults for that folder
# (data/diabetes/dataset.json). Settings given explicitly win.
MANIFEST = "dataset.json"


def read_manifest(data_dir: str) -> dict[str, str]:
    """The defaults a data folder names in its dataset.json ({} when it has none)."""
    path = os.path.join(data_dir, MANIFEST)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        try:
            raw = json.load(f)
        except ValueError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(raw).__name__}")
    out = {k: raw[k] for k in ("label", "registered_model_name") if k in raw}
    bad = {k: v for k, v in out.items() if not isinstance(v, str) or not v}
    if bad:
        raise ValueError(f"{path}: {bad} must be non-empty strings")
    return out
