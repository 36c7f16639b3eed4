"""Compares `models:/<name>@champion` through pyfunc with the TFX SavedModel it wraps.

    python -m tests.pipeline.check_pyfunc --tracking-uri URI --name NAME --csv FILE

Prints one JSON object: the pyfunc's classes, the SavedModel's classes (argmax over its
probabilities, named by the label vocabulary in the SavedModel's assets), and the rows used.
Run in the TFX environment by tests/airflow/test_mlflow_registry.py.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd


def savedmodel_classes(
    model_dir: str, rows: pd.DataFrame, kinds: dict[str, str], label: str
) -> list[str]:
    """Classes straight from the SavedModel, fed tf.Examples typed as in the CSV."""
    import tensorflow as tf

    def example(row) -> bytes:
        feature = {}
        for k, v in row.items():
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            if kinds[k] == "O":
                f = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(v).encode()]))
            elif kinds[k] == "i":
                f = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))
            else:
                f = tf.train.Feature(float_list=tf.train.FloatList(value=[float(v)]))
            feature[k] = f
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    model = tf.saved_model.load(model_dir)
    serve = model.signatures["serving_default"]
    probs = serve(examples=tf.constant([example(r) for r in rows.to_dict("records")]))
    with open(os.path.join(model_dir, "assets", label)) as f:
        vocab = [line.strip() for line in f if line.strip()]
    return [vocab[i] for i in probs["probabilities"].numpy().argmax(axis=1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--label", default="species")
    args = parser.parse_args()

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(args.tracking_uri)
    raw = pd.read_csv(args.csv).iloc[::29].reset_index(drop=True)  # all three species
    rows = raw.drop(columns=[args.label])
    # As ExampleGen typed the bundled CSV: strings, INT columns, FLOAT columns.
    kinds = {k: "O" if rows[k].dtype == object else "f" for k in rows}
    kinds.update(dict.fromkeys(("flipper_length_mm", "body_mass_g", "year"), "i"))
    rows.loc[1, "bill_length_mm"] = np.nan  # a missing value among the rows
    rows.loc[2, "sex"] = None
    pyfunc = mlflow.pyfunc.load_model(f"models:/{args.name}@champion")
    predicted = pyfunc.predict(rows)

    champion = MlflowClient().get_model_version_by_alias(args.name, "champion")
    serving = os.path.join(champion.tags["mlmd_model_uri"], "Format-Serving")
    print(
        json.dumps(
            {
                "pyfunc": list(predicted["class"]),
                "savedmodel": savedmodel_classes(serving, rows, kinds, args.label),
                "truth": list(raw[args.label]),
                "missing_rows": [1, 2],
                "version": champion.version,
            }
        )
    )


if __name__ == "__main__":
    main()
