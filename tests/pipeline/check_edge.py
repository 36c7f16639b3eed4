"""Compares the champion's TFLite files, as logged to MLflow, with the SavedModel they came from.

    python -m tests.pipeline.check_edge --tracking-uri URI --name NAME --csv FILE

Downloads `edge/` and `explanations/` from the champion version's run, feeds every CSV row
through the SavedModel (`serving_default` for the reference, `transform_features` for the edge
model's inputs) and prints one JSON object: per variant the share of rows with the same class
and the file size, the rows compared, and the explanation table's columns and features.
Run in the TFX environment by tests/airflow/test_mlflow_registry.py.
"""

from __future__ import annotations

import argparse
import json
import os

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--label", default="species")
    args = parser.parse_args()

    import mlflow
    import tensorflow as tf
    from mlflow import MlflowClient

    from components.mlflow_pusher.pyfunc_model import example_bytes
    from core import tflite

    mlflow.set_tracking_uri(args.tracking_uri)
    client = MlflowClient()
    champion = client.get_model_version_by_alias(args.name, "champion")
    edge = client.download_artifacts(champion.run_id, "edge")
    table = pd.read_csv(client.download_artifacts(champion.run_id, "explanations/importance.csv"))

    raw = pd.read_csv(args.csv)
    rows = raw.drop(columns=[args.label])
    kinds = {k: "bytes" if rows[k].dtype == object else "float" for k in rows}
    kinds.update(dict.fromkeys(("flipper_length_mm", "body_mass_g", "year"), "int"))
    batch = tf.constant([example_bytes(r, kinds) for r in rows.to_dict("records")])
    model = tf.saved_model.load(os.path.join(champion.tags["mlmd_model_uri"], "Format-Serving"))
    reference = model.signatures["serving_default"](examples=batch)["probabilities"].numpy()
    transformed = model.signatures["transform_features"](examples=batch)
    with open(os.path.join(edge, tflite.INPUTS)) as f:
        inputs = {k: transformed[k].numpy() for k in json.load(f)}
    out = {
        "rows": len(rows),
        "explanation_columns": list(table.columns),
        "explained_features": sorted(table["feature"]),
    }
    for variant in tflite.VARIANTS:
        with open(os.path.join(edge, f"{variant}.tflite"), "rb") as f:
            content = f.read()
        out[variant] = {
            "agreement": tflite.agreement(reference, tflite.run(content, inputs)),
            "bytes": len(content),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
