"""Names more than one module reads: MLflow tags and aliases, artifact file names, the folder a
pipeline run id becomes, and the one rule that turns a data column's name into the names of
its transformed feature, Keras input and vocabulary file. Standard library only.

The NAS engine's own output files (leaderboard, report, best weights) are named by the engine.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata

# ---- MLflow: tags --------------------------------------------------------------------------
# On every run and model version this project logs: the pipeline run (the Airflow DAG run id).
TAG_PIPELINE_RUN = "tfx_pipeline_run_id"
TAG_TASK = "task"  # the task type of a registered model's run and version
# Lineage of a registered model version, back to ML Metadata; the champion resolver and a
# retried push read the first two back.
TAG_MODEL_ARTIFACT_ID = "mlmd_model_artifact_id"
TAG_MODEL_URI = "mlmd_model_uri"
TAG_EXAMPLES_ARTIFACT_ID = "mlmd_examples_artifact_id"
TAG_EVALUATION_ARTIFACT_ID = "mlmd_evaluation_artifact_id"
TAG_PUSHER_EXECUTION_ID = "mlmd_pusher_execution_id"
TAG_DATA_FINGERPRINT = "data_fingerprint"
# What a registered version was trained on: its label column and its input schema's fingerprint
# (`schema_fingerprint`). The champion resolver hands over a champion only when both equal the
# current run's; a version without them (registered before they existed) is taken as matching.
TAG_LABEL = "schema.label"
TAG_SCHEMA = "schema.fingerprint"
TAG_CODE_REVISION = "code_revision"
TAG_LOCK_HASH = "lock_hash"
# What the pusher logged beside a version: "logged", "off" or "failed: ...".
TAG_EXPLANATIONS = "explanations"
TAG_EDGE = "edge"
# A search's MLflow runs: the parent (role "search") and one nested run per trial.
TAG_NAS_ROLE = "nas.role"
NAS_ROLE_SEARCH = "search"
TAG_NAS_TRIAL = "nas.trial_id"
TAG_NAS_SPACE = "nas.space"
TAG_NAS_STRATEGY = "nas.strategy"
TAG_NAS_MODE = "nas.mode"
TAG_PARENT_RUN = "mlflow.parentRunId"  # MLflow's own tag for a nested run
# A data validation's run: "accepted" or "rejected".
TAG_DATA_VERDICT = "data.verdict"

# ---- MLflow: registry aliases --------------------------------------------------------------
# A rollback (pipelines/rollback.py): on the version @champion moved back to, and on the model.
TAG_ROLLBACK_REASON = "rollback.reason"
TAG_ROLLBACK_FROM = "rollback.from_version"
TAG_ROLLBACK_AT = "rollback.at"
TAG_LAST_ROLLBACK = "rollback.last"
# Every move of @champion (core/promotion.py: make_champion), on the version it moved to: when,
# by whom ("pipeline", a user, "rollback"), why, and the version it replaced. Retention keeps the
# last champions by these, and rollback goes back along them.
TAG_CHAMPION_AT = "champion.at"
TAG_CHAMPION_BY = "champion.by"
TAG_CHAMPION_REASON = "champion.reason"
TAG_CHAMPION_FROM = "champion.from_version"
# The gate's evidence on a registered version (core/gate.py), on the test split's rows: the gate
# metric's name and direction, the candidate's value, the trivial baseline's and the champion's
# on the same rows, the paired bootstrap's 95% interval of candidate minus champion, the decision
# (core/promotion.py's states) and its one-line reason.
TAG_GATE_METRIC = "gate.metric"
TAG_GATE_VALUE = "gate.value"
TAG_GATE_TRIVIAL = "gate.trivial"
TAG_GATE_CHAMPION = "gate.champion"
TAG_GATE_CHAMPION_VERSION = "gate.champion_version"
TAG_GATE_DIFF_LOW = "gate.diff_low"
TAG_GATE_DIFF_HIGH = "gate.diff_high"
TAG_GATE_ROWS = "gate.rows"
TAG_GATE_DECISION = "gate.decision"
TAG_GATE_REASON = "gate.reason"
# A sign-off (promotion `approval`: core/promotion.py), on the version that awaits it: its state
# (awaiting, approved, rejected, timed_out), the @champion version it was gated against ("" when
# none), the reason @champion would move (the pusher's), and who decided, when and why.
TAG_SIGNOFF_STATE = "signoff.state"
TAG_SIGNOFF_CHAMPION = "signoff.champion_version"
TAG_SIGNOFF_PROMOTION_REASON = "signoff.promotion_reason"
TAG_SIGNOFF_BY = "signoff.by"
TAG_SIGNOFF_AT = "signoff.at"
TAG_SIGNOFF_REASON = "signoff.reason"
CHAMPION = "champion"  # the model in service, the Evaluator's baseline
CHALLENGER = "challenger"  # the latest blessed version

# ---- files ---------------------------------------------------------------------------------
# TFX Tuner's file in a HyperParameters artifact; the stock Trainer and the pusher read it.
BEST_HYPERPARAMETERS = "best_hyperparameters.txt"
# Beside the Trainer's Format-Serving in a Model artifact: the trained Keras weights and the
# hyperparameters that rebuild them, so a later run can retrain (or warm-start from) the champion.
KERAS_DIR = "Format-Keras"
KERAS_WEIGHTS = "model.weights.h5"
KERAS_HYPERPARAMETERS = "hyperparameters.json"
# Beside Format-Serving in a Model artifact: what the Trainer did (pipelines/training.py): the best
# epoch, each epoch's metrics and rows, the batch size, the classes and their training counts or
# the training mean, and a binary model's decision threshold. The gate and the pusher read it.
TRAINING_RECORD = "training.json"
# In an Evaluator's ModelEvaluation artifact: the gate's decision and evidence (core/gate.py).
GATE_RECORD = "gate.json"
# A search's leaderboard inside its MLflow run (the search's outputs are logged under "search").
SEARCH_ARTIFACTS = "search"
LEADERBOARD_ARTIFACT = f"{SEARCH_ARTIFACTS}/leaderboard.json"


def run_folder(run_id: str) -> str:
    """A pipeline run id as one folder name: letters, digits and `-_.+` kept, anything else
    (`/`, `:`, spaces) as `_`. Airflow run ids hold colons."""
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)
    return safe if safe.strip(".") else f"_{safe}"  # never "", "." or ".."


# ---- a model's input schema -------------------------------------------------------------------


def schema_fingerprint(sizes: dict[str, int]) -> str:
    """16 hex digits over a model's raw feature columns (label left out) and how many values each
    takes per example (1: a scalar; a 1-D signal's length; an image's height x width x
    channels). Both sides compute it from what they see: the pusher from the model's transform
    graph, the champion resolver (before Transform) from the data folder (`columns_fingerprint`).
    Types are left out: the resolver cannot know a CSV column's type without reading it all."""
    text = json.dumps(sorted((str(name), int(size)) for name, size in sizes.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def columns_fingerprint(columns, label: str, feature_shapes: dict) -> str:
    """`schema_fingerprint` of a data folder's columns: every column but `label`, each taking
    the product of its `feature_shapes` entry (the tensors' shapes: declared and found), else 1."""
    sizes = {c: math.prod(feature_shapes.get(c) or [1]) for c in columns if c != label}
    return schema_fingerprint(sizes)


# ---- data columns ----------------------------------------------------------------------------
SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
TRANSFORMED_SUFFIX = "_xf"


def label_counts(label: str) -> str:
    """The vocabulary file of the label's training counts per class (`count class` lines),
    which Transform writes beside the label's own vocabulary (`feature_name(label)`)."""
    return f"{feature_name(label)}__counts"


def feature_name(column: str) -> str:
    """A data column's name as the pipeline's own names use it: the transformed feature (with
    `xf`), the Keras input, the vocabulary file, the Evaluator's label key. A name of ASCII
    letters, digits and `_` that starts with a letter is kept as it is (`bill_length_mm`);
    any other gets its letters (accents dropped), digits and `_` for every run of anything
    else, an `f_` before a leading digit, and 6 hex digits of the original's hash, so two
    columns never share a name ("od280/od315" -> "od280_od315_1d3e0f", "2nd reading" ->
    "f_2nd_reading_7b1a2c", "Alcohol %" and "Alcohol" differ)."""
    if SAFE_NAME.match(column):
        return column
    ascii_ = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9]+", "_", ascii_).strip("_")
    if not base or not base[0].isalpha():
        base = f"f_{base}".rstrip("_")
    digest = hashlib.sha1(column.encode("utf-8")).hexdigest()[:6]
    return f"{base}_{digest}"


def xf(column: str) -> str:
    """The transformed feature (and Keras input) of a data column: `feature_name` + `_xf`."""
    return feature_name(column) + TRANSFORMED_SUFFIX


def time_xf(column: str, part: str) -> str:
    """A time column's transformed feature for one of its parts (core/columns.py's TIME_PARTS):
    `feature_name` + `__` + the part + `_xf` (`created_at__hour_sin_xf`)."""
    return f"{feature_name(column)}__{part}{TRANSFORMED_SUFFIX}"


def xf_base(transformed: str) -> str:
    """`feature_name` of the column behind a transformed feature's name (its vocabulary's
    name): the name without `_xf`."""
    if transformed.endswith(TRANSFORMED_SUFFIX):
        return transformed[: -len(TRANSFORMED_SUFFIX)]
    return transformed
