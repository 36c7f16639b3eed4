"""The settings contract: every setting of a retraining run declared once, with its type, its
default, its rules (bounds, allowed values, pattern), its description and who may set it.

- who `user`: a DAG Param, set in the trigger form or through the REST API (dags/retrain.py
  builds its Params from here); who `operator`: set by the deployment only, in
  $RETRAIN_SETTINGS (a JSON object) or, for the state paths and the tracking URI, the DAG's
  environment.
- scope `pipeline`: a field of the pipeline's `Settings` (pipelines/settings.py, derived from
  here); scope `dag`: steers the DAG only (how it runs the nodes).

The search settings are the NAS engine's own knobs (nas/config.py, `SearchConfig`), read from
their declarations (default, doc, choices, bounds) instead of repeated: a knob the engine adds
is an operator setting at once. Standard library only (core/schema.py and the stdlib-only
engine modules), so the Airflow DAG imports it too.

`python -m core.settings --markdown` prints the README's Params table.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from core.schema import DAG, OPERATOR, PIPELINE, USER, Setting, markdown_table
from nas import knobs
from nas.config import SearchConfig
from nas.task import NAMES as TASK_NAMES

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
TASKS = ("auto", *TASK_NAMES)
# Retraining modes (components/nas_tuner/modes.py); the first is the default.
MODES = ("warm", "full", "retrain")
EXECUTORS = ("warm", "process")
ALLOW_PATTERN = r"^(\*:[A-Z_]+|[^:*][^:]*(:[A-Z_*]+)?)$"  # "*" alone would accept everything
BEAM_PATTERN = r"^--[A-Za-z_]+(=.*)?$"


def _json_type(value) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    kinds.update({tuple: "array", dict: "object"})
    for python, kind in kinds.items():
        if isinstance(value, python):
            return kind
    raise TypeError(f"no JSON type for {value!r}")


def _from_knob(name: str, field: dataclasses.Field, **extra) -> Setting:
    """A setting from an engine knob's declaration. A knob whose default is itself a declared
    dataclass (Fidelity) is an object of that class's knobs; empty: each at its default."""
    meta, default = field.metadata, knobs.default_of(field)
    rules = {k: meta[k] for k in ("choices", "minimum", "maximum", "exclusive_minimum")}
    if dataclasses.is_dataclass(default):
        rules["properties"] = {
            key: _from_knob(key, f).schema() for key, f in knobs.declared(type(default)).items()
        }
        default = {}
    elif isinstance(default, tuple) and default:
        rules["items"] = {"type": _json_type(default[0])}
    return Setting(name, _json_type(default), default, meta["doc"], engine=True, **rules, **extra)


ENGINE_KNOBS = knobs.declared(SearchConfig)


def _knobs(*names: str, **extra) -> list[Setting]:
    """Engine knobs that are Params."""
    return [_from_knob(name, ENGINE_KNOBS[name], who=USER, **extra) for name in names]


# The Params first, in the trigger form's order, then the operator's settings.
_DECLARED = [
    Setting(
        "data",
        "string",
        "data/penguins",
        "Folder of CSV (or TFRecord) files; relative paths are from the repository.",
        USER,
        min_length=1,
    ),
    Setting(
        "label",
        "string",
        "",
        "Label column. Empty: the data folder's dataset.json names it (else species).",
        USER,
        min_length=1,
        optional=True,
    ),
    Setting(
        "task",
        "string",
        "auto",
        "auto: regression for a numeric label with more than 20 distinct values, else "
        "classification.",
        USER,
        choices=TASKS,
    ),
    Setting(
        "rmse_threshold",
        "number",
        0.0,
        "Regression: the Evaluator's upper bound on RMSE (empty: none).",
        USER,
        minimum=0,
        optional=True,
    ),
    Setting(
        "explain",
        "boolean",
        True,
        "Log permutation and SHAP feature importance with each registered version.",
        USER,
    ),
    Setting(
        "max_rmse_increase",
        "number",
        0.05,
        "Regression: the largest relative RMSE increase over the champion (0.05: 5%).",
        USER,
        minimum=0,
    ),
    Setting(
        "drift_threshold",
        "number",
        0.3,
        "Stop the run when a column drifted this far from the last accepted data from the same "
        "folder (L-infinity for categorical, Jensen-Shannon for numeric). 0: off.",
        USER,
        minimum=0,
        maximum=1,
    ),
    Setting(
        "allowed_anomalies",
        "array",
        (),
        'Known anomalies to accept, e.g. ["island:ENUM_TYPE_UNEXPECTED_STRING_VALUES"] or '
        '["body_mass_g"]: "column", "column:KIND" or "*:KIND".',
        USER,
        items={"type": "string", "pattern": ALLOW_PATTERN},
        optional=True,
    ),
    Setting(
        "schema_file",
        "string",
        "",
        "A curated schema.pbtxt to validate against. Empty: the schema of the last accepted "
        "data from the same folder.",
        USER,
        optional=True,
    ),
    Setting(
        "accuracy_threshold",
        "number",
        0.9,
        "Evaluator's absolute accuracy bar.",
        USER,
        minimum=0,
        maximum=1,
    ),
    *_knobs("space", "strategy", "max_trials", "parallel_trials", "time_budget_min", "epochs"),
    *_knobs("seed"),
    *_knobs("search_fidelity", optional=True),
    *_knobs("curve_stop", "inherit_weights", "successive_halving", "morphism"),
    Setting(
        "mode",
        "string",
        MODES[0],
        "Retraining mode. warm (the default, also for scheduled runs): seed the search with "
        "the champion, from its weights, and the last search's leader, and run a quarter of "
        "max_trials. full: a fresh search. retrain: no search; retrain the champion's "
        "architecture on the new data from its weights. warm and retrain search fully while "
        "there is no champion.",
        USER,
        choices=MODES,
    ),
    Setting(
        "promote_trial",
        "string",
        "",
        "Train this candidate of an earlier search at full fidelity instead of searching (e.g. "
        "when a smaller model is preferred): TRIAL of the latest search or RUN_ID:TRIAL, as "
        "`make leaderboard` lists them. It passes the same gate and pusher.",
        USER,
        optional=True,
    ),
    *_knobs("baseline_module", optional=True),
    Setting(
        "beam_pipeline_args",
        "array",
        (),
        "Beam options for the data nodes (ExampleGen, StatisticsGen, Transform, Evaluator), "
        'e.g. ["--direct_running_mode=multi_processing", "--direct_num_workers=0"] or '
        '["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=DOCKER", '
        '"--sdk_container_image=retrain-pipeline:1.0"]. Default: $RETRAIN_BEAM_ARGS, else '
        "Beam's local DirectRunner.",
        USER,
        items={"type": "string", "pattern": BEAM_PATTERN},
        optional=True,
        env="RETRAIN_BEAM_ARGS",
    ),
    Setting(
        "executor",
        "string",
        EXECUTORS[0],
        "warm: one TFX process per DAG run; process: a fresh process per node.",
        USER,
        scope=DAG,
        choices=EXECUTORS,
    ),
    # The operator's (RETRAIN_SETTINGS); the DAG sets the paths, the tracking URI and lineage.
    Setting(
        "pipeline_name",
        "string",
        "retrain",
        "The TFX pipeline's name; the MLflow experiments are NAME-nas (searches) and NAME-data "
        "(data profiles). A dataset's DAGs (datasets/NAME.json) use the dataset's name.",
        min_length=1,
    ),
    Setting(
        "pipeline_root",
        "string",
        str(LOCAL / "pipeline_root"),
        "Where TFX writes artifacts (the DAG: $RETRAIN_STATE_DIR/pipeline_root; a dataset's: "
        "$RETRAIN_STATE_DIR/datasets/NAME/pipeline_root).",
    ),
    Setting(
        "metadata_path",
        "string",
        str(LOCAL / "metadata.sqlite"),
        "ML Metadata's SQLite file (the DAG: $RETRAIN_STATE_DIR/metadata.sqlite; a dataset's: "
        "$RETRAIN_STATE_DIR/datasets/NAME/metadata.sqlite).",
    ),
    Setting(
        "metadata_uri",
        "string",
        "",
        "ML Metadata in PostgreSQL: postgresql://USER@HOST:PORT/DBNAME, the password in "
        "$RETRAIN_MLMD_PASSWORD (pipelines/metadata_config.py); $RETRAIN_MLMD_URI too. Empty: "
        "the SQLite file.",
    ),
    Setting(
        "module_file",
        "string",
        str(REPO / "pipelines" / "user_module" / "model_module.py"),
        "The TFX user module (Transform, Trainer). Alone in its folder: TFX packages every "
        "module beside it into the user-code wheel, whose hash is part of the cache key.",
    ),
    Setting(
        "steps_per_epoch",
        "integer",
        20,
        "Training steps per epoch, of each trial and of the Trainer; evaluation runs a quarter.",
        minimum=1,
    ),
    Setting(
        "max_accuracy_drop",
        "number",
        0.02,
        "Classification: the largest accuracy drop against the champion the Evaluator accepts.",
    ),
    Setting(
        "drift_thresholds",
        "object",
        {},
        'Drift limits per column, beside drift_threshold, e.g. {"body_mass_g": 0.5}.',
    ),
    Setting(
        "classes",
        "array",
        (),
        "Classification: every class of the label (numbers, text or true/false), kept in sorted "
        "order (numbers numerically, text lexicographically); rows with another label value "
        "are left out of training like a missing label. Empty: the data folder's dataset.json "
        "names them, else every value of the label column.",
    ),
    Setting(
        "categorical_features",
        "array",
        (),
        "Integer columns that are categories (codes, ids), not quantities. Otherwise an integer "
        "column is numeric; a text column is always categorical. Empty: the data folder's "
        "dataset.json names them, else none.",
        items={"type": "string"},
    ),
    Setting(
        "feature_shapes",
        "object",
        {},
        'Tensor features\' shapes, e.g. {"pixels": [8, 8, 1]}: an array feature of that many '
        "values, or encoded PNG/JPEG bytes decoded to [height, width, channels]. A fixed-length "
        "vector needs none (a 1-D signal, its length read from the data). Empty: the data "
        "folder's dataset.json names them.",
    ),
    Setting(
        "registered_model_name",
        "string",
        "",
        "The MLflow registered model. Empty: the data folder's dataset.json names it, else the "
        "folder's name (lowercase letters, digits and _).",
    ),
    Setting(
        "mlflow_tracking_uri",
        "string",
        "",
        "MLflow's tracking URI. Empty: $MLFLOW_TRACKING_URI, else an SQLite store beside the ML "
        "Metadata file (never MLflow's own default, mlflow.db in the current directory). An SQLite "
        "store keeps its artifacts in mlartifacts/ beside it.",
    ),
    Setting(
        "edge_export",
        "boolean",
        True,
        "With each registered version, the TFLite files: the Trainer converts, the pusher "
        "measures (components/mlflow_pusher/insight.py).",
    ),
    Setting(
        "data_profile",
        "boolean",
        True,
        "Log the data profile (components/data_validator/profile.py) with every validation.",
    ),
    Setting(
        "lineage",
        "object",
        {},
        "Extra lineage tags of the registered version (the DAG: its dag_id and run_id).",
    ),
]
_NAMED = {s.name for s in _DECLARED}
# Every setting by name: the declared ones, then every other engine knob (the operator's).
SETTINGS: dict[str, Setting] = {s.name: s for s in _DECLARED} | {
    name: _from_knob(name, field) for name, field in ENGINE_KNOBS.items() if name not in _NAMED
}
# The engine's knobs among the settings: what the pipeline hands on to the search.
ENGINE = tuple(name for name, s in SETTINGS.items() if s.engine)


def params() -> list[Setting]:
    """The settings users set: the DAG's Params, in the trigger form's order."""
    return [s for s in SETTINGS.values() if s.who == USER]


def pipeline_settings() -> list[Setting]:
    """The settings the pipeline reads: the fields of its `Settings`."""
    return [s for s in SETTINGS.values() if s.scope == PIPELINE]


def problems(values: dict) -> list[str]:
    """What in `values` (pipeline settings by name) breaks the contract: unknown names, values
    of the wrong type, outside their bounds or allowed values."""
    known = {s.name for s in pipeline_settings()}
    unknown = sorted(set(values) - known)
    out = [f"unknown setting(s) {unknown}"] if unknown else []
    for name in [n for n in values if n in known]:
        out += SETTINGS[name].problems(values[name])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.settings", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--who", choices=(USER, OPERATOR), default=USER, help="user: the Params (the default)"
    )
    args = parser.parse_args(argv)
    chosen = [s for s in SETTINGS.values() if s.who == args.who]
    if args.markdown:
        print(markdown_table(chosen, "Param" if args.who == USER else "Setting", str(REPO)))
    else:
        for s in chosen:
            print(f"{s.name}: {s.type} = {s.default_value()!r} ({s.scope})")


if __name__ == "__main__":
    main()
