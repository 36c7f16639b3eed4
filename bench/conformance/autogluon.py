"""AutoGluon, measured (issue 34): on the generated kinds with text, time or ID columns
(bench/conformance/kinds.py), the same training rows (seed 7) and the same 2,000 fresh rows
(seed 8) the corpus uses,

- how AutoGluon's default feature pipeline (`AutoMLPipelineFeatureGenerator`) types each
  column (text, datetime, dropped, category, numeric), beside how the product does where the
  pipeline compiles (core/columns.py's rules through pipelines/data_checks.py `cleaning`, on a
  CSV of the rows: a PostgreSQL table's snapshot is typed by Arrow, its timestamp a time);
- AutoGluon's `TabularPredictor` (LightGBM only, a short time limit) fitted on the training
  rows, its accuracy on the fresh rows beside the product's @champion on the same rows, read
  from bench/conformance/results.json (this script does not rerun the product).

    make bench-autogluon                   # builds .venv/autogluon, then runs this
    .venv/autogluon/bin/python bench/conformance/autogluon.py --time-limit 90 --only events

It runs in its own environment (bench/conformance/requirements-autogluon.txt, never the
product's locks) and writes bench/conformance/autogluon.json and its section of RESULTS.md
(report.py keeps the section when the corpus rewrites RESULTS.md). Standard library at import.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # this folder first on the path would hide the package by this file
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench/conformance"]
    sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402
from bench.conformance import kinds  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "autogluon.json"
COMPARED = ("events", "tickets", "notes", "customers")  # the kinds with text, time or IDs
TITLE = "## AutoGluon, measured"


def ours(name: str, train: list[dict], folder: Path) -> dict[str, str]:
    """{column: "text", "datetime", "dropped", "category" or "numeric"} as the product reads
    the training rows where the pipeline compiles (pipelines/data_checks.py `cleaning`)."""
    from core import columns
    from pipelines import data_checks

    kind = kinds.KINDS[name]
    folder.mkdir(parents=True, exist_ok=True)
    kinds._csv(folder, train, name)
    declared = {key: () for key in columns.COLUMN_KEYS} | {"missing_tokens": ()}
    clean = data_checks.cleaning(str(folder), kind.label, declared, 0.5)
    profile = columns.csv_profile([str(folder / f"{name}.csv")], kind.label)
    out = {}
    for column in [c for c in train[0] if c != kind.label]:
        if column in clean["timestamp"]:
            out[column] = "datetime"
        elif column in clean["text"]:
            out[column] = "text"
        elif column in clean["ignore"]:
            out[column] = "dropped"
        else:
            out[column] = "category" if profile.kinds.get(column) == "text" else "numeric"
    return out


def theirs(frame) -> tuple[dict[str, str], dict[str, list]]:
    """({column: type}, {column: the features made of it}) as AutoGluon's default feature
    pipeline reads `frame` (the features, no label)."""
    from autogluon.features.generators import AutoMLPipelineFeatureGenerator

    generator = AutoMLPipelineFeatureGenerator(verbosity=0)
    generator.fit_transform(frame)
    meta, links = generator.feature_metadata_in, generator.get_feature_links()
    types, made = {}, {}
    for column in frame.columns:
        made[column] = list(links.get(column, []))
        if column not in generator.features_in or not made[column]:
            types[column] = "dropped"
            continue
        special = set(meta.get_feature_types_special(column))
        if "text" in special:
            types[column] = "text"
        elif special & {"datetime_as_object", "datetime_as_int"}:
            types[column] = "datetime"
        elif meta.get_feature_type_raw(column) in ("object", "category"):
            types[column] = "category"
        else:
            types[column] = "numeric"
    return types, made


def fit_autogluon(name: str, train: list[dict], fresh: list[dict], limit: int, path: Path):
    """(AutoGluon's accuracy on the fresh rows, seconds to fit, the models it fitted)."""
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    label = kinds.KINDS[name].label
    started = time.monotonic()
    predictor = TabularPredictor(label=label, path=str(path), verbosity=0)
    predictor.fit(pd.DataFrame(train), time_limit=limit, hyperparameters={"GBM": {}})
    fit_s = time.monotonic() - started
    guess = predictor.predict(pd.DataFrame(fresh).drop(columns=[label]))
    accuracy = kinds._accuracy(list(guess), [r[label] for r in fresh])
    return accuracy, round(fit_s, 1), list(predictor.model_names())


def measure(names, limit: int) -> dict:
    """Every compared kind: column types both ways and accuracies on the fresh rows."""
    import autogluon.tabular
    import pandas as pd

    product = json.loads((HERE / "results.json").read_text())
    out = {
        **stamp(),
        "command": f"make bench-autogluon ARGS='--time-limit {limit}'",
        "autogluon": autogluon.tabular.__version__,
        "python": sys.version.split()[0],
        "time_limit_s": limit,
        "hyperparameters": {"GBM": {}},
        "kinds": {},
    }
    with tempfile.TemporaryDirectory(prefix="autogluon-") as tmp:
        for name in names:
            kind = kinds.KINDS[name]
            train = kind.rows(kind.n, kinds.TRAIN_SEED)
            fresh = kind.rows(kinds.FRESH_ROWS, kinds.FRESH_SEED)
            features = pd.DataFrame(train).drop(columns=[kind.label])
            types, made = theirs(features)
            accuracy, fit_s, models = fit_autogluon(name, train, fresh, limit, Path(tmp) / name)
            seen = (product.get(name) or {}).get("fresh") or {}
            out["kinds"][name] = {
                "train_rows": len(train),
                "fresh_rows": len(fresh),
                "ours": ours(name, train, Path(tmp) / f"{name}-data"),
                "autogluon_types": types,
                "autogluon_features_made": made,
                "autogluon": accuracy,
                "autogluon_fit_s": fit_s,
                "autogluon_models": models,
                "product": seen.get("product"),
                "reference": seen.get("reference"),
                "reference_model": seen.get("reference_model"),
                "majority": seen.get("majority"),
            }
            print(f"{name}: {json.dumps(out['kinds'][name])}", flush=True)
    return out


def section(result: dict) -> list[str]:
    """RESULTS.md's lines for a measurement (autogluon.json's content)."""
    lines = [
        TITLE,
        "",
        f"    {result['command']}",
        "",
        f"{result['date']} on {result['machine']}: AutoGluon {result['autogluon']} "
        f"(`autogluon.tabular[lightgbm]`, Python {result['python']}, its own environment), "
        f'`TabularPredictor` with LightGBM only (`hyperparameters={{"GBM": {{}}}}`), '
        f"`time_limit` {result['time_limit_s']} s, fitted on the corpus's training rows and "
        "scored on the same 2,000 fresh rows as the product's @champion (its figure from "
        "results.json, not rerun). Column types: AutoGluon's `AutoMLPipelineFeatureGenerator` "
        "beside the product's rules where the pipeline compiles (core/columns.py).",
        "",
        "| dataset | column | ours | AutoGluon | product (accuracy) | AutoGluon (accuracy) "
        "| reference (accuracy) |",
        "|---|---|---|---|---|---|---|",
    ]
    body = []
    for name, k in result["kinds"].items():
        first = True
        for column, mine in k["ours"].items():
            theirs_ = k["autogluon_types"].get(column, "-")
            made = k["autogluon_features_made"].get(column, [])
            shown = f"{theirs_} ({len(made)} features)" if theirs_ != "dropped" else theirs_
            if theirs_ == "datetime":
                shown = f"{theirs_}: {', '.join(f'`{m}`' for m in made)}"
            figures = "| | |"
            if first:
                product = "-" if k["product"] is None else f"{k['product']:.4f}"
                ref = "-" if k["reference"] is None else f"{k['reference']:.4f}"
                figures = f"{product} | {k['autogluon']:.4f} | {ref} |"
            body.append(f"| `{name}` | `{column}` | {mine} | {shown} | {figures}")
            first = False
    agree = sum(
        mine == k["autogluon_types"].get(column)
        for k in result["kinds"].values()
        for column, mine in k["ours"].items()
    )
    total = sum(len(k["ours"]) for k in result["kinds"].values())
    gaps = [
        f"`{name}` {k['product'] - k['autogluon']:+.4f}"
        for name, k in result["kinds"].items()
        if k["product"] is not None
    ]
    fits = [k["autogluon_fit_s"] for k in result["kinds"].values()]
    behind = [
        f"`{name}`"
        for name, k in result["kinds"].items()
        if k["product"] is not None and k["reference"] is not None and k["reference"] > k["product"]
    ]
    return [
        *lines,
        *body,
        "",
        f"The two type {agree} of {total} columns alike. Product minus AutoGluon on the fresh "
        f"rows: {', '.join(gaps)}. AutoGluon fitted each in {min(fits):g} to {max(fits):g} s "
        "on one model family; the product's runs took minutes (the wall column above). The "
        f"scikit-learn reference is ahead of the product on {', '.join(behind) or 'none'}.",
    ]


def write_results(result: dict) -> None:
    """autogluon.json, and its section in RESULTS.md (replaced, or added before Failures)."""
    OUT.write_text(json.dumps(result, indent=1) + "\n")  # in the order measured
    path = HERE / "RESULTS.md"
    text = path.read_text()
    if TITLE in text:
        head, _, rest = text.partition(TITLE)
        tail = rest[rest.index("\n## ") + 1 :] if "\n## " in rest else ""
        text = head + "\n".join(section(result)) + "\n\n" + tail
    else:
        head, sep, rest = text.partition("## Failures")
        text = head + "\n".join(section(result)) + "\n\n" + sep + rest
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/conformance/autogluon.py", description=__doc__)
    parser.add_argument("--time-limit", type=int, default=90, help="seconds per fit")
    parser.add_argument("--only", default=",".join(COMPARED), help="kinds, comma-separated")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in kinds.KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {sorted(kinds.KINDS)}")
    write_results(measure(names, args.time_limit))
    print(f"wrote {OUT.relative_to(REPO)} and its section of RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
