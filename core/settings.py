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

`python -m core.settings --markdown` prints the Params table (docs/reference/settings.md has it,
generated at build time by docs/hooks.py).
"""

from __future__ import annotations

import argparse
import dataclasses

from core import promotion
from core.operator_settings import LOCAL, OPERATOR_SETTINGS, REPO  # noqa: F401 (re-exported)
from core.schema import DAG, OPERATOR, PIPELINE, USER, Setting, markdown_table
from nas import knobs
from nas.config import SearchConfig
from nas.task import NAMES as TASK_NAMES

TASKS = ("auto", *TASK_NAMES)
# The gate's metric: auto (the task's default) or one of core/metrics.py's (stdlib-only list).
GATE_METRICS = ("auto", "pr_auc", "roc_auc", "log_loss", "brier", "f1", "precision", "recall")
GATE_METRICS += ("accuracy", "macro_f1", "rmse", "mae", "r2")
# Retraining modes (components/nas_tuner/modes.py); the first is the default.
MODES = ("warm", "full", "retrain")
EXECUTORS = ("warm", "process")
PROMOTIONS = promotion.MODES  # auto (the default) or approval
ALLOW_PATTERN = r"^(\*:[A-Z_]+|[^:*][^:]*(:[A-Z_*]+)?)$"  # "*" alone would accept everything
BEAM_PATTERN = r"^--[A-Za-z_]+(=.*)?$"
DEFAULT_LABEL = "species"  # the label when neither the Param nor dataset.json names one


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
        "Folder of CSV, Parquet or TFRecord files (relative paths are from the repository), or "
        "a PostgreSQL table or query: postgresql://USER@HOST:PORT/DB?table=NAME or "
        "?query=SELECT... (URL-encoded; the password comes from an Airflow Connection).",
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
        "explain",
        "boolean",
        True,
        "Log permutation and SHAP feature importance with each registered version.",
        USER,
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
        "gate_metric",
        "string",
        "auto",
        "The metric that gates a model on the test split, beside the trivial baseline's and "
        "@champion's on the same rows. auto: PR AUC for a binary label, log loss for several "
        "classes, RMSE for regression (core/metrics.py lists each family's metrics).",
        USER,
        choices=GATE_METRICS,
    ),
    Setting(
        "gate_min",
        "number",
        0.0,
        "A fixed bar on the gate metric besides the default one, 'clearly better than the "
        "trivial baseline' (at least this for a metric where higher is better, at most this "
        "for an error or a loss). Empty: none.",
        USER,
        optional=True,
    ),
    Setting(
        "gate_learnable_share",
        "number",
        0.5,
        "Refuse a model whose lift over the trivial baseline on the test rows (even the top of "
        "its 95% interval) is below this share of @champion's lift at its own gate: rows far "
        "less predictable than the champion's were (shuffled or broken labels, a bad join) "
        "are stopped, where a shift leaves a new batch as learnable as before. 0: off.",
        USER,
        minimum=0,
        maximum=1,
    ),
    Setting(
        "promotion",
        "string",
        PROMOTIONS[0],
        "Who moves @champion to a version the gate found at least as good as it. auto: the "
        "pipeline. approval: it is @challenger only, and the run's sign_off task waits for a "
        "person (a user with the operator's approval_role) to approve or reject it in the "
        "Airflow UI. A trigger may not turn approval (the DAG's default) off.",
        USER,
        choices=PROMOTIONS,
        env="RETRAIN_PROMOTION",
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
        'e.g. ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]: only the '
        "options in the operator's allowed_beam_options. Default: $RETRAIN_BEAM_ARGS (the "
        "operator's, e.g. a Flink or Dataflow runner), else Beam's local DirectRunner.",
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
    *OPERATOR_SETTINGS,
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
            value = ("set" if s.default_value() else "not set") if s.secret else s.default_value()
            print(f"{s.name}: {s.type} = {value!r} ({s.scope})")


if __name__ == "__main__":
    main()
