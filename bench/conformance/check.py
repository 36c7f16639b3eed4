"""What one conformance run gave: the run's summary from ML Metadata (node states, the
Evaluator's metric, blessing, the registered version) and a check of the registered
`models:/<name>@champion` pyfunc on raw rows of the dataset.

    .venv/tfx/bin/python -m bench.conformance.check --state DIR --run-id RUN --data FOLDER

Prints one line `CHECK {json}`. Raw rows are what a user holds: a CSV read by pandas as it
comes (the label column dropped), or the TFRecords' examples as Python values, an array
feature as a numpy array in its declared shape (a flat vector when none is declared) and PNG
bytes as bytes. If the pyfunc refuses shaped arrays, flat lists are tried too, and the output
says which cells worked. Up to --rows rows, evenly spread over the data (training rows among
them: this checks serving, not generalisation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one_line(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return (text[0] if len(text) == 1 else f"{text[0]} ... {text[-1]}")[:400]


def _key(value):
    """A predicted or true label as a comparable key (core.tasks.class_key: 2, 2.0, "2" and
    b"2" alike, "true" as True); anything else by its text."""
    from core.tasks import class_key

    try:
        return class_key(value)
    except (TypeError, ValueError):
        return str(value)


def raw_rows(data: str, label: str, limit: int, shaped: bool = True):
    """(rows without the label as a DataFrame, the label values as a list), up to `limit`
    rows evenly spread."""
    import numpy as np
    import pandas as pd

    from core import tfrecord
    from pipelines import task as data_task

    files = data_task.data_files(data)
    if files.kind == "csv":
        frame = pd.concat([pd.read_csv(f) for f in files.files], ignore_index=True)
    elif files.kind == "parquet":
        frame = pd.concat([pd.read_parquet(f) for f in files.files], ignore_index=True)
    else:
        shapes = data_task.manifest(data).get("feature_shapes", {})
        records = []
        for path in files.files:
            for example in tfrecord.examples(path):
                row = {}
                for name, (kind, values) in example.items():
                    if not values:
                        row[name] = None
                    elif kind == "bytes":
                        v = values[0]
                        row[name] = v if v.startswith(data_task.IMAGE_MAGIC) else v.decode()
                    elif len(values) > 1 or name in shapes:
                        dtype = "int64" if kind == "int64" else "float32"
                        cell = np.asarray(values, dtype=dtype)
                        if name in shapes and shaped:
                            cell = cell.reshape(shapes[name])
                        row[name] = cell if shaped else cell.tolist()
                    else:
                        row[name] = values[0]
                records.append(row)
        frame = pd.DataFrame.from_records(records)
    n = min(limit, len(frame))
    frame = frame.iloc[np.linspace(0, len(frame) - 1, n).astype(int)].reset_index(drop=True)
    return frame.drop(columns=[label]), list(frame[label])


def score(out, truth: list) -> dict:
    """Classification: the share of rows whose `class` equals the label; regression: RMSE."""
    if "class" in out:
        right = sum(_key(p) == _key(t) for p, t in zip(out["class"], truth, strict=True))
        return {"correct": round(right / len(truth), 4)}
    err = [(float(p) - float(t)) ** 2 for p, t in zip(out["prediction"], truth, strict=True)]
    return {"rmse": round(math.sqrt(sum(err) / len(err)), 4)}


def pyfunc_check(tracking_uri: str, name: str, data: str, label: str, limit: int) -> dict:
    """Loads models:/NAME@champion and predicts raw rows; {rows, correct | rmse, cells} or
    {error}."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    except Exception as e:  # noqa: BLE001 (recorded, one line)
        traceback.print_exc()
        return {"error": f"load: {one_line(e)}"}
    errors = []
    for shaped in (True, False):
        try:
            rows, truth = raw_rows(data, label, limit, shaped)
            out = model.predict(rows)
            cells = "arrays" if shaped else "lists"
            return {"rows": len(rows), **score(out, truth), "cells": cells, "errors": errors}
        except Exception as e:  # noqa: BLE001 (recorded, one line)
            traceback.print_exc()
            errors.append(one_line(e))
            if not _has_arrays(data):
                break
    return {"error": f"predict: {errors[0]}", "errors": errors}


def fresh_check(tracking_uri: str, name: str, kind: str) -> dict:
    """bench/conformance/kinds.py's kinds: the @champion's pyfunc on fresh rows, beside the
    kind's scikit-learn reference and the majority class; {product, reference, ...} or
    {error}."""
    import mlflow

    from bench.conformance import kinds

    mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        return kinds.fresh_check(kind, model.predict)
    except Exception as e:  # noqa: BLE001 (recorded, one line)
        traceback.print_exc()
        return {"error": one_line(e)}


def _has_arrays(data: str) -> bool:
    from pipelines import task as data_task

    return data_task.data_files(data).kind == "tfrecord"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.conformance.check")
    parser.add_argument("--state", required=True, help="the run's RETRAIN_STATE_DIR")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--kind", default="", help="a kind of kinds.py: also score fresh rows")
    parser.add_argument("--label", default=None, help="the label (a source without a folder)")
    args = parser.parse_args(argv)

    from pipelines import summary
    from pipelines.settings import Settings

    settings = Settings(
        data=args.data,
        pipeline_root=os.path.join(args.state, "pipeline_root"),
        metadata_path=os.path.join(args.state, "metadata.sqlite"),
        **({"label": args.label} if args.label else {}),
    )
    out: dict = {"label": settings.label}
    try:
        s = summary.run_summary(settings, args.run_id)
        out.update(
            nodes={k: v["state"] for k, v in s["nodes"].items()},
            metric=summary.shown_metric(s),
            value=s[summary.shown_metric(s)],
            blessed=s["blessed"],
            registered=s["registered"],
        )
    except Exception as e:  # noqa: BLE001 (recorded, one line)
        traceback.print_exc()
        out["summary_error"] = one_line(e)
    reg = out.get("registered")
    folder = os.path.isdir(args.data)
    if reg and "champion" in reg["aliases"]:
        if folder:
            out["pyfunc"] = pyfunc_check(
                reg["tracking_uri"], reg["name"], args.data, settings.label, args.rows
            )
        if args.kind:
            out["fresh"] = fresh_check(reg["tracking_uri"], reg["name"], args.kind)
        if not folder:  # a database's rows: the fresh rows are the raw rows the pyfunc read
            fresh = out.get("fresh", {})
            out["pyfunc"] = (
                {"rows": fresh["rows"], "correct": fresh["product"], "cells": "fresh rows"}
                if "product" in fresh
                else {"error": fresh.get("error", "no fresh rows")}
            )
    print("CHECK " + json.dumps(out, sort_keys=True, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
