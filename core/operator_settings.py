"""The operator's settings of the settings contract (core/settings.py): set by the deployment
in $RETRAIN_SETTINGS (a JSON object) or the environment variable a setting names, never by a
trigger. The DAG itself sets the state paths, the tracking URI and the lineage. Declared here,
beside the Params in core/settings.py, only to keep each file short: core/settings.py is the
one list of every setting. Standard library only.
"""

from __future__ import annotations

from pathlib import Path

from core.column_settings import COLUMN_SETTINGS
from core.schema import DAG, Setting

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
# train_epochs 0: the Trainer's most epochs are this many times the trials' `epochs`.
TRAIN_EPOCHS_FACTOR = 5

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
        0,
        "An optional cap on training steps per epoch, of each trial and of the Trainer. 0 (the "
        "default): an epoch is one pass over the training split.",
        minimum=0,
    ),
    Setting(
        "train_epochs",
        "integer",
        0,
        "The Trainer's most epochs when it retrains the winner on every training row; early "
        "stopping on the validation loss (patience: three quarters of `epochs`, at least 2; the "
        "best epoch is kept) and the time budget usually end it sooner, and a constant learning "
        "rate drops to a fifth after half that patience without a lower loss. 0 (the "
        f"default): {TRAIN_EPOCHS_FACTOR} times `epochs`, the trials' epochs: a trial needs "
        "only enough to rank, the winner to converge (MNIST-1D-like signals, development "
        "seeds: a cap of 10 kept 0.978-0.986 on fresh rows, this rule 0.990-0.996; "
        "bench/vision/mnist1d-dev/README.md).",
        minimum=0,
    ),
    Setting(
        "split_ratios",
        "object",
        {},
        'ExampleGen\'s split by a hash of the row, as whole-number shares, e.g. {"train": 8, '
        '"validation": 1, "test": 1} (the default; core/splits.py says which split serves '
        "what). A row lands in the same split on every retrain of the same rows.",
    ),
    Setting(
        "split_column",
        "string",
        "",
        "A column whose values name each row's split (train, validation or test) instead of "
        "the hash; it is not a feature. Empty: the hash split.",
    ),
    Setting(
        "decision_threshold",
        "string",
        "best_f1",
        "A binary model's decision threshold, chosen on the validation split: best_f1, or "
        "recall:R (the highest threshold reaching recall R) or precision:P (the lowest reaching "
        "precision P). Stored with the model; the pyfunc applies it.",
    ),
    Setting(
        "drift_thresholds",
        "object",
        {},
        'Drift limits per column, beside drift_threshold, e.g. {"body_mass_g": 0.5}.',
    ),
    *COLUMN_SETTINGS,
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
        "in (symbolic links resolved; relative: from the repository), and URI prefixes a "
        "postgresql:// data source must lie under (postgresql://USER@HOST:PORT/DB: user, host, "
        "port and database compared whole). Values equal to the DAG's defaults (the "
        "operator's, a dataset definition's) and an Asset's folder are trusted. Also "
        "$RETRAIN_ALLOWED_ROOTS (a JSON array).",
        items={"type": "string"},
        env="RETRAIN_ALLOWED_ROOTS",
    ),
    Setting(
        "postgres_conn_id",
        "string",
        "retrain_postgres",
        "The Airflow Connection whose password reads a postgresql:// data source (e.g. "
        "$AIRFLOW_CONN_RETRAIN_POSTGRES); its login, host, port and schema, where set, must "
        "be the source's. The password reaches only the process that reads the snapshot, in "
        "its environment. Also $RETRAIN_POSTGRES_CONN.",
        scope=DAG,
        env="RETRAIN_POSTGRES_CONN",
        min_length=1,
    ),
    Setting(
        "data_snapshot",
        "string",
        "",
        "Set by the DAG for a postgresql:// data source: the folder its snapshot was read into "
        "before any node ran (core/pg_snapshot.py; under pipeline_root/_snapshots, named by "
        "what was read), which the pipeline reads as a folder of Parquet files. Empty for a "
        "folder.",
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
        "retention_keep_champions",
        "integer",
        5,
        "The retention DAG keeps the last this many champions of each registered model (the "
        "versions @champion moved to, newest first: core/promotion.py's champion_history), so a "
        "rollback has somewhere to go; at least 2: the champion and the one before it.",
        minimum=2,
    ),
    Setting(
        "retention_keep_days",
        "number",
        30,
        "The retention DAG keeps every registered version younger than this many days, besides "
        "@champion, @challenger (any alias) and the last retention_keep_champions champions; "
        "older ones go with their MLflow run and model (pipelines/registry_retention.py).",
        minimum=0,
    ),
    Setting(
        "notify_webhook",
        "string",
        "",
        'A Slack-style incoming webhook (POST {"text": ...}) told of every notified event: a '
        "failed node, a model promoted, kept as @challenger or NOT BLESSED. Only from "
        "$RETRAIN_NOTIFY_WEBHOOK (its URL may hold a secret; never in RETRAIN_SETTINGS, never "
        "logged). Empty: none (dags/retrain_support/notify.py).",
        scope=DAG,
        env="RETRAIN_NOTIFY_WEBHOOK",
        secret=True,
    ),
    Setting(
        "serving_url",
        "string",
        "http://127.0.0.1:8000",
        "The model server's front for @champion (serving/front.py): clients POST raw rows to "
        "URL/invocations; the front listens on this URL's port, and deploy_new_model switches it "
        "through URL/-/ (with $RETRAIN_SERVING_TOKEN). From $RETRAIN_SERVING_URL.",
        scope=DAG,
        env="RETRAIN_SERVING_URL",
    ),
    Setting(
        "serving_model",
        "string",
        "",
        "The registered model whose @champion the front serves when it starts. Empty: the model "
        "of the front's last deploy (its state file), else none until deploy_new_model deploys "
        "one. From $RETRAIN_SERVING_MODEL.",
        scope=DAG,
        env="RETRAIN_SERVING_MODEL",
    ),
    Setting(
        "serving_token",
        "string",
        "",
        "The bearer token of the front's control endpoints (URL/-/): only from "
        "$RETRAIN_SERVING_TOKEN, never logged. Empty: the control endpoints answer loopback "
        "clients only.",
        scope=DAG,
        env="RETRAIN_SERVING_TOKEN",
        secret=True,
    ),
    Setting(
        "serving_smoke_rows",
        "integer",
        5,
        "How many of the rows saved with a version (its input example: raw eval rows) a deploy's "
        "smoke test sends to the new model server, whose answers must equal the pyfunc's in "
        "process. From $RETRAIN_SERVING_SMOKE_ROWS.",
        scope=DAG,
        env="RETRAIN_SERVING_SMOKE_ROWS",
        minimum=1,
    ),
    Setting(
        "serving_drain_s",
        "number",
        30,
        "After a switch, the old model server is stopped once the requests forwarded to it have "
        "finished, or after this many seconds. From $RETRAIN_SERVING_DRAIN_S.",
        scope=DAG,
        env="RETRAIN_SERVING_DRAIN_S",
        minimum=0,
    ),
    Setting(
        "serving_start_timeout_s",
        "number",
        600,
        "How long a new model server may take to load its version and answer /ping. From "
        "$RETRAIN_SERVING_START_TIMEOUT_S.",
        scope=DAG,
        env="RETRAIN_SERVING_START_TIMEOUT_S",
        minimum=1,
    ),
    Setting(
        "serving_spares",
        "integer",
        2,
        "How many spare Pythons of the TFX environment the front keeps with their imports done "
        "(TensorFlow, MLflow's scoring server; serving/warm.py), for the next deploy's model "
        "server and smoke test: a deploy then starts without importing them. Each idles at a "
        "few hundred MB; they are started again after each switch. 0: every model server and "
        "smoke test starts in a fresh Python. From $RETRAIN_SERVING_SPARES.",
        scope=DAG,
        env="RETRAIN_SERVING_SPARES",
        minimum=0,
    ),
    Setting(
        "registry_webhook_secret",
        "string",
        "",
        "The secret of MLflow's registry webhook (core/registry_webhook.py): the api-server's "
        "receiver refuses a delivery not signed with it. Only from "
        "$RETRAIN_REGISTRY_WEBHOOK_SECRET, never logged. Empty: every delivery is refused.",
        scope=DAG,
        env="RETRAIN_REGISTRY_WEBHOOK_SECRET",
        secret=True,
    ),
    Setting(
        "approval_role",
        "string",
        "op",
        "promotion approval: users of this role or higher (SimpleAuthManager) may sign off.",
        scope=DAG,
        env="RETRAIN_APPROVAL_ROLE",
        choices=("viewer", "user", "op", "admin"),
    ),
    Setting(
        "approvers",
        "array",
        (),
        "promotion approval: user ids who may sign off (FAB: ids as text). Empty: approval_role's.",
        scope=DAG,
        env="RETRAIN_APPROVERS",
        items={"type": "string", "minLength": 1},
    ),
    Setting(
        "approval_timeout_s",
        "number",
        3 * 24 * 3600,
        "promotion approval: sign_off's wait for an answer; then nothing moves, team notified.",
        scope=DAG,
        env="RETRAIN_APPROVAL_TIMEOUT_S",
        exclusive_minimum=0,
    ),
    Setting(
        "lineage",
        "object",
        {},
        "Extra lineage tags of the registered version (the DAG: its dag_id and run_id).",
    ),
]
