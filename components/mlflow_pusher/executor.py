"""MlflowPusher executor.

Blessed: log one MLflow run (hyperparameters, Evaluator metrics, the pyfunc model with the TFX
serving SavedModel inside, feature importance and the TFLite files: insight.py), register a
version whose tags carry the lineage, set @challenger, and move @champion when the model was
evaluated against the current champion (or there is none yet).

Not blessed: nothing is registered, no alias moves, and one line says which metric missed which
threshold.

Idempotent: a version is tagged with its pipeline run id at creation, so a retried push for the
same run finds it and only (re)applies the aliases.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.mlflow_pusher import insight, serving
from components.mlflow_pusher.evaluation import (
    evaluation_metrics,
    gate_metrics,
    gate_tags,
    not_blessed_reason,
    training_metrics,
)
from core import names, promotion, records, registry, tasks, tracking

REPO = serving.REPO
LOCK_FILES = ("requirements.lock", "requirements-airflow.lock")


def _single(input_dict, key):
    items = input_dict.get(key) or []
    return artifact_utils.get_single_instance(items) if items else None


class Executor(base_executor.BaseExecutor):
    """Registers a blessed model (see the module's docstring)."""

    def Do(self, input_dict, output_dict, exec_properties):
        from tfx.components.util import model_utils

        blessing = _single(input_dict, "model_blessing")
        evaluation = _single(input_dict, "evaluation")
        pushed = _single(output_dict, "pushed_model")
        name = exec_properties["registered_model_name"]
        run_id = getattr(self._context, "pipeline_run_id", None) or "unknown"

        decision = records.gate(evaluation.uri)
        if not model_utils.is_model_blessed(blessing):
            reason = decision.get("reason") or not_blessed_reason(evaluation.uri)
            logging.warning(
                "NOT BLESSED: %s. Nothing registered in %s; aliases unchanged.", reason, name
            )
            pushed.set_int_custom_property("pushed", 0)
            pushed.set_string_custom_property("not_blessed_reason", reason)
            pushed.set_string_custom_property("promotion", promotion.NOT_BLESSED)
            return

        client = tracking.use(exec_properties["tracking_uri"])
        version = registry.version_for_run(client, name, run_id)
        if version is not None:
            logging.info(
                "pipeline run %s already registered %s version %s (a retried push): no new version",
                run_id,
                name,
                version.version,
            )
        else:
            version = self._register(client, input_dict, exec_properties, run_id, decision)
        client.set_registered_model_alias(name, names.CHALLENGER, version.version)
        mode = exec_properties.get("promotion") or promotion.AUTO
        state = self._promote(client, name, version, decision, mode)
        champion = state == promotion.CHAMPION

        destination = f"models:/{name}/{version.version}"
        pushed.set_int_custom_property("pushed", 1)
        pushed.set_string_custom_property("pushed_destination", destination)
        pushed.set_int_custom_property("pushed_version", int(version.version))
        pushed.set_string_custom_property("promotion", state)
        pushed.set_string_custom_property("promotion_reason", decision.get("reason", ""))
        logging.info(
            "REGISTERED %s version %s (@%s%s): %s",
            name,
            version.version,
            names.CHALLENGER,
            f", @{names.CHAMPION}" if champion else "",
            tracking.model_link(exec_properties["tracking_uri"], name, version.version),
        )

    # ------------------------------------------------------------------ register

    def _register(self, client, input_dict, exec_properties, run_id: str, decision: dict):
        import mlflow
        import tensorflow_transform as tft
        from tfx.utils import path_utils

        name = exec_properties["registered_model_name"]
        label = exec_properties["label"]
        model = _single(input_dict, "model")
        evaluation = _single(input_dict, "evaluation")
        examples = _single(input_dict, "examples")
        transform = tft.TFTransformOutput(_single(input_dict, "transform_graph").uri)
        shapes = json.loads(exec_properties.get("feature_shapes") or "{}")
        inputs = serving.model_inputs(transform, label, shapes)
        task = tasks.get(exec_properties["task"])
        classes = task.classes(transform, label)
        serving_dir = path_utils.serving_model_path(model.uri)

        experiment = tracking.experiment_id(
            client, name, exec_properties.get("artifact_location") or ""
        )
        tags = self._lineage_tags(input_dict, exec_properties, run_id)
        tags[names.TAG_TASK] = task.name
        tags.update(serving.schema_tags(label, inputs))
        tags.update(gate_tags(decision))
        record = records.training(model.uri)
        with mlflow.start_run(experiment_id=experiment, run_name=run_id, tags=tags) as run:
            hp = _hyperparameters(_single(input_dict, "hyperparameters"))
            if hp:
                mlflow.log_params(hp)
            mlflow.log_metrics(evaluation_metrics(evaluation.uri))
            mlflow.log_metrics(gate_metrics(decision))
            mlflow.log_metrics(training_metrics(record))
            mlflow.log_dict(decision, f"evaluation/{names.GATE_RECORD}")
            mlflow.log_dict(record, f"training/{names.TRAINING_RECORD}")
            # a few raw eval rows (missing values as None/NaN), as the model takes them
            example = insight.eval_rows(examples.uri, inputs.features, label, 5, inputs.shapes)
            info = serving.log_pyfunc(
                serving_dir, inputs, classes, task, example.rows, record.get("threshold")
            )
            # Explanations and the edge files, before the version exists (failures are logged).
            insight.log_all(
                model.uri,
                serving_dir,
                examples.uri,
                inputs.features,
                label,
                classes,
                task,
                explain=bool(exec_properties.get("explain", 1)),
                edge=bool(exec_properties.get("edge", 1)),
                shapes=inputs.shapes,
            )
        # Tags are set with the version, so a retry can always find it (no half-registration).
        version = mlflow.register_model(info.model_uri, name, tags=tags)
        logging.info("registered %s version %s from run %s", name, version.version, run.info.run_id)
        return version

    def _lineage_tags(self, input_dict, exec_properties, run_id: str) -> dict[str, str]:
        model = _single(input_dict, "model")
        examples = _single(input_dict, "examples")
        evaluation = _single(input_dict, "evaluation")
        fingerprint = examples.get_string_custom_property("input_fingerprint") or examples.uri
        tags = {
            names.TAG_PIPELINE_RUN: run_id,
            names.TAG_MODEL_ARTIFACT_ID: str(model.id),
            names.TAG_MODEL_URI: model.uri,
            names.TAG_EXAMPLES_ARTIFACT_ID: str(examples.id),
            names.TAG_EVALUATION_ARTIFACT_ID: str(evaluation.id),
            names.TAG_PUSHER_EXECUTION_ID: str(getattr(self._context, "_unique_id", "") or ""),
            names.TAG_DATA_FINGERPRINT: hashlib.sha256(fingerprint.encode()).hexdigest()[:16],
            names.TAG_CODE_REVISION: _code_revision(),
            names.TAG_LOCK_HASH: _lock_hash(),
        }
        extra = json.loads(exec_properties.get("lineage") or "{}")
        tags.update({str(k): str(v) for k, v in extra.items()})
        return tags

    # ------------------------------------------------------------------ champion

    def _promote(self, client, name: str, version, decision: dict, mode: str) -> str:
        """core/promotion.py's state of `version`: @champion moves to it (promotion `auto`) or
        it waits for a person's sign-off (`approval`) when the gate found it at least as good
        as @champion on the same test rows (or there is none yet); else @challenger only."""
        state, why = promotion.promote(client, name, version, decision, mode)
        if state == promotion.CHALLENGER:
            logging.warning("%s (%s)", why, name)
        elif state == promotion.AWAITING:
            logging.warning(
                "AWAITING SIGN-OFF: version %s of %s is @%s; @%s moves when a person approves "
                "in the DAG run's sign_off task (%s)",
                version.version,
                name,
                names.CHALLENGER,
                names.CHAMPION,
                why,
            )
        elif why.startswith("CHAMPION REPLACED"):
            logging.warning("%s", why)
        else:
            logging.info("@%s -> version %s (%s)", names.CHAMPION, version.version, why)
        return state


# ---------------------------------------------------------------------- helpers


def _hyperparameters(artifact) -> dict:
    if artifact is None:
        return {}
    path = Path(artifact.uri) / names.BEST_HYPERPARAMETERS
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("values", {}))


def _code_revision() -> str:
    if os.environ.get("RETRAIN_CODE_REVISION"):
        return os.environ["RETRAIN_CODE_REVISION"]
    git = ["git", "-C", str(REPO)]
    try:
        rev = subprocess.run(
            [*git, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _lock_hash() -> str:
    h = hashlib.sha256()
    for name in LOCK_FILES:
        path = REPO / name
        h.update(path.read_bytes() if path.exists() else b"missing")
    return h.hexdigest()[:16]
