"""The operator's settings of the settings contract (core/settings.py): set by the deployment
in $RETRAIN_SETTINGS (a JSON object) or the environment variable a setting names, never by a
trigger. The DAG itself sets the state paths, the tracking URI and the lineage. Declared here,
beside the Params in core/settings.py, only to keep each file short: core/settings.py is the
one list of every setting.

Standard library only.
"""

from __future__ import annotations

from pathlib import Path

from core.schema import Setting

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"

OPERATOR_SETTINGS = [
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
        "allowed_roots",
        "array",
        (".",),
        "The trust boundary: folders a trigger's data, schema_file and baseline_module must lie "
        "in (symbolic links resolved; relative: from the repository). Values equal to the DAG's "
        "defaults (the operator's, a dataset definition's) and an Asset's folder are trusted. "
        "Also $RETRAIN_ALLOWED_ROOTS (a JSON array).",
        items={"type": "string"},
        env="RETRAIN_ALLOWED_ROOTS",
    ),
    Setting(
        "allowed_beam_options",
        "array",
        ("direct_running_mode", "direct_num_workers"),
        "Beam options a trigger's beam_pipeline_args may name (without the leading --); "
        "$RETRAIN_BEAM_ARGS, the operator's, is trusted. Also $RETRAIN_ALLOWED_BEAM_OPTIONS.",
        items={"type": "string"},
        env="RETRAIN_ALLOWED_BEAM_OPTIONS",
    ),
    Setting(
        "node_timeout_s",
        "integer",
        3600,
        "Every node but the Tuner: its time limit in seconds for a data folder up to 1 GB, and "
        "as much again for each further GB. Over it, the node is killed with its process group "
        "and fails as `timed out after N s` (then retried).",
        minimum=10,
    ),
    Setting(
        "tuner_timeout_margin_s",
        "integer",
        1800,
        "The Tuner's (and its parallel workers') time limit: time_budget_min plus this margin.",
        minimum=0,
    ),
    Setting(
        "retention_keep_runs",
        "integer",
        10,
        "The retention DAG keeps the last this many pipeline runs, besides those that registered "
        "@champion and @challenger and any still running (pipelines/retention.py).",
        minimum=1,
    ),
    Setting(
        "lineage",
        "object",
        {},
        "Extra lineage tags of the registered version (the DAG: its dag_id and run_id).",
    ),
]
