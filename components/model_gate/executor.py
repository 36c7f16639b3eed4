"""ModelGate executor: TFMA's metrics for the candidate on the test split (its evaluation
artifact, as TFX's Evaluator writes it), then the gate on the same rows (core/gate.py): the
candidate's, the trivial baseline's and @champion's outputs, a paired bootstrap, and the
decision. The blessing is the gate's; the record (GATE_RECORD) is what the pusher, the approval
form and the docs read.

The candidate's training record (core/names.py TRAINING_RECORD, pipelines/training.py) gives the
classes, their training counts (the trivial baseline's prior) or the training mean, and a binary
model's decision threshold. @champion is scored through its own serving signature on the same
raw rows; a champion that cannot score them (another schema) is left out, and the record says so.
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import logging
from tfx.components.evaluator import executor as tfma_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from core import gate, metrics, names, records, registry, splits, tasks, tracking

PREDICT_BATCH = 2048


def _single(input_dict, key):
    items = input_dict.get(key) or []
    return artifact_utils.get_single_instance(items) if items else None


def training_record(model_uri: str) -> dict:
    """The Trainer's record beside the model (pipelines/training.py); it must be there."""
    record = records.training(model_uri)
    if not record:
        raise FileNotFoundError(
            f"{names.TRAINING_RECORD} is missing beside {model_uri}: the model was trained before "
            "the gate existed, or not by this pipeline's Trainer (pipelines/training.py writes it)"
        )
    return record


def test_rows(examples, label: str) -> tuple[list[bytes], list]:
    """The gate split's serialized rows and their raw label values (None: missing)."""
    import tensorflow as tf

    folder = artifact_utils.get_split_uri([examples], splits.GATE)
    files = sorted(tf.io.gfile.glob(os.path.join(folder, "*")))
    serialized, raw = [], []
    for row in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(row).features.feature.get(label)
        values = []
        if feature is not None:
            kind = feature.WhichOneof("kind")
            values = list(getattr(feature, kind).value) if kind else []
        value = values[0] if values else None
        serialized.append(row)
        raw.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return serialized, raw


def predict(model_uri: str, serialized: list[bytes], output: str) -> np.ndarray:
    """A model's serving output for raw serialized rows (its serving_default signature)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    serve = loaded.signatures["serving_default"]
    parts = []
    for i in range(0, len(serialized), PREDICT_BATCH):
        batch = tf.constant(serialized[i : i + PREDICT_BATCH])
        parts.append(serve(examples=batch)[output].numpy())
    return np.concatenate(parts) if parts else np.zeros((0,))


def write_blessing(blessing, model, baseline, blessed: bool, state: str) -> None:
    """The ModelBlessing as TFX's Evaluator writes it (the BLESSED / NOT_BLESSED file and the
    `blessed` property the pusher checks), with the gate's state beside it."""
    from tfx.components.evaluator import constants

    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri
    )
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    if baseline is not None:
        blessing.set_string_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri
        )
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id
        )
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    value = constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, value)
    blessing.set_string_custom_property("gate_state", state)


class Executor(tfma_executor.Executor):
    """TFMA on the test split, then the gate (see the module's docstring)."""

    def Do(self, input_dict, output_dict, exec_properties):
        from google.protobuf import json_format

        cfg = json.loads(exec_properties["gate"])
        task = tasks.get(cfg["task"])
        label = cfg["label"]
        model = _single(input_dict, "model")
        champion = _single(input_dict, "baseline_model")
        examples = _single(input_dict, "examples")
        record = training_record(model.uri)
        classes = record.get("classes") or []
        family = metrics.kind(task.name, len(classes))
        threshold = record.get("threshold")
        threshold = 0.5 if threshold is None else float(threshold)

        # TFMA: the candidate alone (the gate scores @champion itself, on the same rows).
        eval_config = task.eval_config(label, family, threshold)
        super().Do(
            {"examples": input_dict["examples"], "model": input_dict["model"]},
            {"evaluation": output_dict["evaluation"]},
            {
                "eval_config": json_format.MessageToJson(eval_config),
                "example_splits": json.dumps([splits.GATE]),
            },
        )

        serialized, raw = test_rows(examples, label)
        y = np.asarray(task.labels(raw, classes))
        keep = y >= 0 if family != "regression" else np.isfinite(y)
        dropped = int(len(y) - keep.sum())
        rows = [r for r, k in zip(serialized, keep, strict=True) if k]
        y = y[keep]
        candidate = predict(model.uri, rows, task.serving_output)
        prior = record["class_counts"] if family != "regression" else record["target_mean"]
        if prior is None:
            raise ValueError(f"{names.TRAINING_RECORD} of {model.uri} has no training prior")
        theirs, champion_note = None, "no @champion"
        if champion is not None:
            try:
                theirs = predict(champion.uri, rows, task.serving_output)
                champion_note = f"@champion (model artifact {champion.id})"
            except Exception as e:  # noqa: BLE001 (another schema or format: no comparison)
                champion_note = f"@champion could not score these rows ({type(e).__name__}: {e})"
                logging.warning("GATE: %s; gated without it", champion_note)
        metric = cfg.get("metric") or gate.AUTO
        champion_gate = None  # @champion's own gate record: how learnable its rows were
        if theirs is not None and cfg.get("learnable_share") and cfg.get("tracking_uri"):
            champion_gate = registry.recorded_gate(
                tracking.client(cfg["tracking_uri"]),
                cfg["registered_model_name"],
                champion.id,
                gate.gate_metric(family, metric).name,
            )
        decision = gate.decide(
            family,
            y,
            candidate,
            prior,
            theirs,
            metric=metric,
            fixed_bar=cfg.get("min"),
            threshold=threshold,
            class_names=classes,
            champion_record=champion_gate,
            learnable_share=float(cfg.get("learnable_share") or 0.0),
        )
        evaluation = _single(output_dict, "evaluation")
        out = {
            **decision.to_dict(),
            "family": family,
            "threshold": record.get("threshold"),
            "champion_model_id": champion.id
            if champion is not None and theirs is not None
            else None,
            "champion_note": champion_note,
            "champion_record": champion_gate,
            "unlabelled_test_rows": dropped,
        }
        io_utils.write_string_file(
            os.path.join(evaluation.uri, names.GATE_RECORD), json.dumps(out, sort_keys=True)
        )
        write_blessing(
            _single(output_dict, "blessing"), model, champion, decision.blessed, decision.state
        )
        logging.info(
            "GATE %s: %s", "BLESSED" if decision.blessed else "NOT BLESSED", decision.reason
        )
        print(f"Evaluator: {decision.reason}", flush=True)
