"""What the pusher logs beside a registered model: explanations and the edge (TFLite) files.

Both run on the eval split's raw rows, inside the registration's MLflow run and before the
version is registered. Each is optional for the push: a failure is logged as
`EXPLANATIONS FAILED` / `EDGE CHECK FAILED`, the run is tagged, and the model is still
registered (it passed the Evaluator; these are about it, not part of its gate).

- explanations/importance.json (an MLflow table), importance.csv and importance.png:
  permutation importance and mean |SHAP| per raw column (explain.py);
- edge/float.tflite, edge/dynamic_range.tflite, edge/inputs.json, with metrics
  edge_<variant>_size_kb, edge_<variant>_latency_ms (one row, median) and
  edge_<variant>_agreement: the share of eval rows where it agrees with the SavedModel, by the
  task's rule (`Task.agreement`, core/tasks.py: the same class, or within 5% of the
  SavedModel's prediction spread).

`task` below is a core/tasks.py Task.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import tempfile

import numpy as np
import pandas as pd
from absl import logging

from components.mlflow_pusher import explain
from components.mlflow_pusher.pyfunc_model import example_bytes, raw_row, raw_value
from core import names, splits

EVAL_ROWS = 300  # eval rows read for both; SHAP explains a sample of them


@dataclasses.dataclass
class EvalRows:
    """Raw eval rows, three ways: serialized, as the pyfunc takes them, and their labels."""

    serialized: list[bytes]  # the raw tf.Examples, label included
    rows: pd.DataFrame  # raw feature columns (missing: None / NaN; tensors whole)
    labels: list  # raw label values


def eval_rows(
    examples_uri: str,
    features: dict[str, str],
    label: str,
    n: int = EVAL_ROWS,
    shapes: dict | None = None,
) -> EvalRows:
    """The first `n` rows of the test split, read in plain Python (core/tfrecord.py). A tensor
    column (`shapes`) is read whole, as the pyfunc takes it: a list of numbers, or an encoded
    image's bytes (`pyfunc_model.raw_row`), so permuting it for the explanations moves the
    whole feature; a scalar column is a float or text."""
    from core import tfrecord

    shapes = shapes or {}
    pattern = os.path.join(examples_uri, splits.folder(splits.GATE), "*")
    serialized, rows, labels = [], [], []
    for path in sorted(glob.glob(pattern)):
        for raw in tfrecord.records(path, n - len(serialized)):
            example = tfrecord.parse_example(raw)
            rows.append(raw_row(example, features, shapes))
            labels.append(raw_value(*example.get(label, ("", [])), tensor=False))
            serialized.append(raw)
        if len(serialized) >= n:
            break
    frame = pd.DataFrame(rows, columns=list(features))
    for k, kind in features.items():
        frame[k] = frame[k].astype(object if kind == "bytes" or k in shapes else float)
    return EvalRows(serialized, frame, labels)


def log_explanations(
    saved_model, data: EvalRows, features: dict[str, str], classes, task, shapes=None
):
    """Both importance methods on the eval rows (a tensor column is one feature), logged to the
    active MLflow run."""
    import mlflow
    import tensorflow as tf

    serve = saved_model.signatures["serving_default"]

    def predict(rows: pd.DataFrame) -> np.ndarray:
        batch = [example_bytes(r, features, shapes) for r in rows.to_dict("records")]
        return serve(examples=tf.constant(batch))[task.serving_output].numpy()

    table = explain.explain(predict, data.rows, task.labels(data.labels, classes), task)
    with tempfile.TemporaryDirectory() as tmp:
        table.to_csv(os.path.join(tmp, "importance.csv"), index=False)
        title = f"feature importance on {len(data.rows)} eval rows"
        explain.plot(table, os.path.join(tmp, "importance.png"), title)
        mlflow.log_artifacts(tmp, "explanations")
    mlflow.log_table(table, artifact_file="explanations/importance.json")
    top = table.iloc[0]
    logging.info(
        "EXPLANATIONS: %s first (permutation %.3f, |SHAP| %.3f); ranks %s",
        top["feature"],
        top["permutation"],
        top["shap"],
        ", ".join(f"{r.feature}: {r.permutation_rank}/{r.shap_rank}" for r in table.itertuples()),
    )
    return table


def log_edge(saved_model, model_uri: str, data: EvalRows, task) -> dict[str, float]:
    """Size, latency and agreement of each TFLite file the Trainer wrote, logged with them."""
    import json

    import mlflow
    import tensorflow as tf

    from core import tflite

    folder = os.path.join(model_uri, tflite.FOLDER)
    if not os.path.isdir(folder):
        logging.info("no edge files in %s (trained before edge export): none logged", folder)
        return {}
    with open(os.path.join(folder, tflite.INPUTS)) as f:
        names = list(json.load(f))
    batch = tf.constant(data.serialized)
    reference = saved_model.signatures["serving_default"](examples=batch)
    reference = reference[task.serving_output].numpy()
    transformed = saved_model.signatures["transform_features"](examples=batch)
    inputs = {k: transformed[k].numpy() for k in names}
    one_row = {k: v[:1] for k, v in inputs.items()}
    metrics = {}
    for variant in tflite.VARIANTS:
        path = os.path.join(folder, f"{variant}.tflite")
        with open(path, "rb") as f:
            content = f.read()
        agree = task.agreement(reference, tflite.run(content, inputs))
        metrics.update(
            {
                f"edge_{variant}_size_kb": round(len(content) / 1024, 2),
                f"edge_{variant}_latency_ms": round(tflite.latency_ms(content, one_row), 4),
                f"edge_{variant}_agreement": round(agree, 4),
            }
        )
        logging.info(
            "EDGE %s: %.1f KB, %.3f ms per row, %s on %.1f%% of %d eval rows",
            variant,
            metrics[f"edge_{variant}_size_kb"],
            metrics[f"edge_{variant}_latency_ms"],
            task.agreement_rule,
            100 * agree,
            len(data.serialized),
        )
        if agree < 0.99:
            logging.warning("EDGE %s agrees on only %.1f%% of eval rows", variant, 100 * agree)
    if metrics["edge_dynamic_range_size_kb"] >= metrics["edge_float_size_kb"]:
        logging.info(
            "EDGE dynamic_range is no smaller than float: TFLite quantises only weight tensors "
            "of %d values or more, and this model has none",
            tflite.MIN_QUANTISED_VALUES,
        )
    mlflow.log_artifacts(folder, "edge")
    mlflow.log_metrics(metrics)
    return metrics


def log_all(
    model_uri,
    serving_dir,
    examples_uri,
    features,
    label,
    classes,
    task,
    explain=True,
    edge=True,
    shapes=None,
):
    """Explanations and edge files for the active run (those asked for, settings `explain` and
    `edge_export`); failures are logged, not raised. `shapes`: the tensor columns'."""
    if not (explain or edge):
        return
    import mlflow
    import tensorflow as tf

    saved_model = tf.saved_model.load(serving_dir)
    data = eval_rows(examples_uri, features, label, shapes=shapes)
    steps = (
        (
            "EXPLANATIONS",
            names.TAG_EXPLANATIONS,
            lambda: log_explanations(saved_model, data, features, classes, task, shapes),
            explain,
        ),
        ("EDGE CHECK", names.TAG_EDGE, lambda: log_edge(saved_model, model_uri, data, task), edge),
    )
    for name, tag, step, wanted in steps:
        if not wanted:
            mlflow.set_tag(tag, "off")
            continue
        try:
            step()
            mlflow.set_tag(tag, "logged")
        except Exception as e:  # noqa: BLE001  (reported; the registration goes on)
            logging.exception("%s FAILED (the model is still registered): %s", name, e)
            mlflow.set_tag(tag, f"failed: {type(e).__name__}: {e}"[:500])
