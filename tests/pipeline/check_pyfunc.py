"""Compares `models:/<name>@champion` through pyfunc with the TFX SavedModel it wraps.

    python -m tests.pipeline.check_pyfunc --tracking-uri URI --name NAME --csv FILE
    python -m tests.pipeline.check_pyfunc --tracking-uri URI --name NAME --data DIR --label L

Prints one JSON object: the pyfunc's classes, the SavedModel's classes (argmax over its
probabilities, named by the label vocabulary in the SavedModel's assets), and the rows used.
Run in the TFX environment by tests/airflow/test_mlflow_registry.py (--csv: the penguins CSV).

--data: raw rows of any dataset kind, from a data folder (CSV, or TFRecords with signals,
image arrays or encoded images): the pyfunc gets them as a user would (tensors whole, as lists;
encoded images as bytes), the SavedModel the folder's own tf.Examples (TFRecords) or examples
built here (CSV). Prints the pyfunc's first output column and the SavedModel's, through the
task's own columns (`Task.pyfunc_frame`), with the rows' labels.
"""

from __future__ import annotations

import argparse
import json
import os
import random

import numpy as np
import pandas as pd


def savedmodel_classes(
    model_dir: str, rows: pd.DataFrame, kinds: dict[str, str], label: str
) -> list[str]:
    """Classes straight from the SavedModel, fed tf.Examples typed as in the CSV."""
    import tensorflow as tf

    model = tf.saved_model.load(model_dir)
    serve = model.signatures["serving_default"]
    probs = serve(examples=tf.constant([example(r, kinds) for r in rows.to_dict("records")]))
    with open(os.path.join(model_dir, "assets", label)) as f:
        vocab = [line.strip() for line in f if line.strip()]
    return [vocab[i] for i in probs["probabilities"].numpy().argmax(axis=1)]


def data_rows(folder: str, label: str, config: dict, n: int):
    """(raw rows as the pyfunc takes them, serialized tf.Examples for the SavedModel, labels):
    `n` rows spread over a data folder."""
    from components.mlflow_pusher.pyfunc_model import raw_row, raw_value
    from core import tfrecord
    from pipelines import task as data_task

    features, shapes = config["features"], config.get("shapes") or {}
    files = data_task.data_files(folder)
    if files.kind == "csv":
        raw = pd.concat([pd.read_csv(f) for f in files.files], ignore_index=True)
        raw = raw.sample(min(n, len(raw)), random_state=0).reset_index(drop=True)
        rows = raw.drop(columns=[label])
        rows = rows.astype(object).where(rows.notna(), None)
        kinds = {k: {"bytes": "O", "int": "i"}.get(v, "f") for k, v in features.items()}
        serialized = [example(r, kinds) for r in rows.to_dict("records")]
        return rows, serialized, raw[label].tolist()
    records = [r for f in files.files for r in tfrecord.records(f)]
    records = random.Random(0).sample(records, min(n, len(records)))  # every class, not a stride
    parsed = [tfrecord.parse_example(r) for r in records]
    rows = pd.DataFrame([raw_row(e, features, shapes) for e in parsed], columns=list(features))
    labels = [raw_value(*e.get(label, ("", [])), tensor=False) for e in parsed]
    return rows, records, labels


def example(row: dict, kinds: dict[str, str]) -> bytes:
    """A scalar row as a tf.Example typed by `kinds` ("O" text, "i" int, "f" float)."""
    from core import tfrecord

    kind = {"O": "bytes", "i": "int64"}
    return tfrecord.encode_example(
        {
            k: (kind.get(kinds[k], "float"), [v])
            for k, v in row.items()
            if not (v is None or (isinstance(v, float) and np.isnan(v)))
        }
    )


def check_data(args) -> dict:
    """--data: the pyfunc on raw rows of the folder vs the SavedModel on its tf.Examples."""
    import mlflow
    import tensorflow as tf
    from mlflow import MlflowClient

    from core import tasks

    pyfunc = mlflow.pyfunc.load_model(f"models:/{args.name}@champion")
    config = pyfunc.model_config
    rows, serialized, labels = data_rows(args.data, args.label, config, args.rows)
    predicted = pyfunc.predict(rows)
    client = MlflowClient()
    champion = client.get_model_version_by_alias(args.name, "champion")
    serving = os.path.join(champion.tags["mlmd_model_uri"], "Format-Serving")
    task = tasks.get(config["task"])
    serve = tf.saved_model.load(serving).signatures["serving_default"]
    outputs = serve(examples=tf.constant(serialized))[task.serving_output].numpy()
    reference = task.pyfunc_frame(outputs, config["classes"], config.get("threshold"))
    column = predicted.columns[0]
    return {
        "columns": list(predicted.columns),
        "pyfunc": predicted[column].tolist(),
        "savedmodel": reference[column].tolist(),
        "truth": labels,
        "tensor_columns": config.get("shapes") or {},
        "version": champion.version,
        "versions": sorted(
            str(v.version) for v in client.search_model_versions(f"name = '{args.name}'")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracking-uri", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--csv")
    where.add_argument("--data")
    parser.add_argument("--label", default="species")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(args.tracking_uri)
    if args.data:
        print(json.dumps(check_data(args), default=str))
        return
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
