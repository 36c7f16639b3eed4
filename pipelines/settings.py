"""The pipeline's settings: what every node of a run depends on, read from JSON (the DAG's
Params plus the operator's RETRAIN_SETTINGS) and validated once.

`Settings` is derived from the settings contract (core/settings.py): one field per setting the
pipeline reads, with the contract's type and default, validated by the contract's rules (types,
bounds, allowed values, patterns) plus the checks that need more than a value (a file exists,
a metadata URI parses, anomaly entries can match). The search's settings are the engine's knobs
under the engine's names, handed on to it by `search_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from pathlib import Path

from core import pg_source
from core import settings as contract
from core.datasets import model_name_for
from core.schema import PYTHON_TYPES
from core.settings import LOCAL, REPO
from pipelines.task import MANIFEST, manifest  # the one reader of dataset.json

__all__ = ["LOCAL", "MANIFEST", "REPO", "Settings", "read_manifest"]
SQLITE = "sqlite:///"
THRESHOLD_RULE = re.compile(r"^(best_f1|(recall|precision):(0(\.\d+)?|1(\.0+)?))$")


def _source_model_name(data: str) -> str:
    """The model name of a PostgreSQL source (its table's); `validated` names a bad URI."""
    try:
        return pg_source.parse(data).model_name()
    except pg_source.SourceError:
        return "model"


class SettingsBase:
    """The methods of `Settings`; its fields come from the settings contract."""

    def __post_init__(self):
        for f in dataclasses.fields(self):  # JSON arrays arrive as lists
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        source = pg_source.is_source(self.data)
        data = self.data_folder() if isinstance(self.data, str) and not source else ""
        manifest = read_manifest(data) if data else {}
        if not self.label:
            object.__setattr__(self, "label", manifest.get("label") or contract.DEFAULT_LABEL)
        if not self.registered_model_name:
            # Named after the dataset when nothing names it: never another dataset's model.
            name = manifest.get("registered_model_name") or (
                _source_model_name(self.data) if source else model_name_for(data)
            )
            object.__setattr__(self, "registered_model_name", name)

    @classmethod
    def from_json(cls, text: str | None):
        """Settings from a JSON object (Airflow's Params). Unknown keys are an error."""
        raw = json.loads(text) if text else {}
        if not isinstance(raw, dict):
            raise ValueError(f"settings must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            hint = "; the keys of 'nas' are settings of their own now" if "nas" in unknown else ""
            raise ValueError(f"unknown setting(s) {unknown}{hint}; known: {sorted(known)}")
        return cls(**raw).validated()

    def validated(self):
        """These settings, or ValueError naming every setting that breaks a rule."""
        problems = contract.problems(dataclasses.asdict(self))
        if isinstance(self.drift_thresholds, dict):
            limits = self.drift()
            bad = {k: v for k, v in limits.items() if not isinstance(v, (int, float)) or v < 0}
            if bad:
                problems.append(f"drift thresholds {bad} must be numbers >= 0")
        if isinstance(self.allowed_anomalies, tuple):
            from components.data_validator.checks import check_allow_entries

            bad_allow = check_allow_entries(self.allowed_anomalies)
            if bad_allow:
                problems.append(
                    f"allowed_anomalies {bad_allow}: each entry is 'column', 'column:KIND' or "
                    "'*:KIND' (accepting everything is not allowed)"
                )
        if not THRESHOLD_RULE.match(str(self.decision_threshold)):
            problems.append(
                f"decision_threshold {self.decision_threshold!r} is not best_f1, recall:R or "
                "precision:P with R, P between 0 and 1"
            )
        if self.split_ratios:
            from core import splits

            problems += splits.problems(self.split_ratios)
        if self.baseline_module and not os.path.isfile(self.path(self.baseline_module)):
            problems.append(f"baseline_module {self.path(self.baseline_module)} is not a file")
        if pg_source.is_source(self.data):
            try:
                pg_source.parse(self.data)
            except pg_source.SourceError as e:
                problems.append(f"data: {e}")
        if self.metadata_uri:
            from pipelines.metadata_config import postgres_target

            try:
                postgres_target(self.metadata_uri)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))
        return self

    def data_folder(self) -> str:
        """The folder the pipeline reads: `data`, or for a postgresql:// source its snapshot
        (`data_snapshot`, taken before any node runs: pipelines/snapshot.py)."""
        if not pg_source.is_source(self.data):
            return self.path(self.data)
        if not self.data_snapshot:
            raise ValueError(
                f"data {pg_source.parse(self.data).uri} is a PostgreSQL source, and no snapshot "
                "of it was taken (data_snapshot; python -m pipelines.snapshot takes one)"
            )
        return self.path(self.data_snapshot)

    def data_source(self) -> str:
        """What the data is, across runs (the last accepted data from the same source is the
        drift reference): the folder, or the PostgreSQL source's URI."""
        if pg_source.is_source(self.data):
            return pg_source.parse(self.data).uri
        return self.path(self.data)

    def resolved_task(self) -> tuple[str, str]:
        """(task, why): the setting, or inferred from the label column of the data."""
        from pipelines.task import resolve

        return resolve(self.task, self.data_folder(), self.label)

    def search_config(self, task: str = "classification") -> dict:
        """The NAS engine's SearchConfig, as a dict: the engine's knobs as set here (paths
        resolved) and the resolved task."""
        config = {name: copy.deepcopy(getattr(self, name)) for name in contract.ENGINE}
        if self.baseline_module:
            config["baseline_module"] = self.path(self.baseline_module)
        return {**config, "task": task}

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
        """(tracking URI, local artifact location or "" for a tracking server). Unset: an
        SQLite store beside the ML Metadata file. A local SQLite store keeps its artifacts in
        mlartifacts/ beside it (a dataset's DAG names the store its state directory shares)."""
        uri = self.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            uri = f"sqlite:///{Path(self.path(self.metadata_path)).parent / 'mlflow.db'}"
        if uri.startswith(SQLITE):
            return uri, str(Path(uri[len(SQLITE) :]).parent / "mlartifacts")
        return uri, ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


Settings = dataclasses.make_dataclass(
    "Settings",
    [
        (s.name, PYTHON_TYPES[s.type], dataclasses.field(default_factory=s.default_value))
        for s in contract.pipeline_settings()
    ],
    bases=(SettingsBase,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "Everything the pipeline depends on: one field per pipeline setting of the "
        "settings contract (core/settings.py), with its default. Relative paths are relative "
        "to the repository. `Settings.from_json` reads and validates the DAG's JSON.",
    },
)


# Beside the data: {"label": ..., "registered_model_name": ...}, the defaults for that folder
# (data/diabetes/dataset.json). Settings given explicitly win; without a name, the model is
# named after the folder (core/datasets.py: model_name_for).


def read_manifest(data_dir: str) -> dict[str, str]:
    """The defaults a data folder names in its dataset.json ({} when it has none)."""
    raw = manifest(data_dir)
    path = os.path.join(data_dir, MANIFEST)
    out = {k: raw[k] for k in ("label", "registered_model_name") if k in raw}
    bad = {k: v for k, v in out.items() if not isinstance(v, str) or not v}
    if bad:
        raise ValueError(f"{path}: {bad} must be non-empty strings")
    return out
