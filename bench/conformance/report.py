"""RESULTS.md and results.json of the conformance run, from the runner's results (one object
per dataset, bench/conformance/run.py); standard library only."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import stamp
from bench.conformance import autogluon, corpus, kinds
from core.topology import NODES

NODE_ORDER = list(NODES)
REPO = Path(__file__).resolve().parents[2]


def conforms(r: dict) -> bool:
    """The done-when of a dataset: a registered @champion whose pyfunc predicts raw rows."""
    reg, py = r.get("registered") or {}, r.get("pyfunc") or {}
    return "champion" in reg.get("aliases", []) and bool(py) and "error" not in py


def first_failure(r: dict) -> tuple[str, str] | None:
    """(where, one line) of the first thing that went wrong, None when nothing did."""
    if r.get("runner_error"):
        return "runner", r["runner_error"]
    if r.get("failures"):
        f = r["failures"][0]
        return f["node"], f["error"]
    states = r.get("task_states") or {}
    for node in ["check_params", *NODE_ORDER]:
        if states.get(node) in ("failed", "upstream_failed"):
            return node, f"task state {states[node]} (see {r.get('log', 'the log')})"
    if r.get("dag_state") != "success":
        return "DAG", f"run {r.get('dag_state')}: {r.get('tail', '')}"
    if r.get("check_error") or r.get("summary_error"):
        return "check", r.get("check_error") or r.get("summary_error")
    if (r.get("pyfunc") or {}).get("error"):
        return "pyfunc", r["pyfunc"]["error"]
    if not conforms(r):
        return "registry", "no @champion was registered (not blessed?)"
    return None


def _metric(r: dict) -> str:
    if r.get("value") is None:
        return "-"
    return f"{'RMSE' if r.get('metric') == 'rmse' else r.get('metric')} {r['value']:.4g}"


def _registered(r: dict) -> str:
    blessed = {True: "yes", False: "no", None: "-"}[r.get("blessed")]
    reg = r.get("registered")
    if not reg:
        return f"{blessed} / -"
    aliases = "".join(f" @{a}" for a in reg["aliases"])
    return f"{blessed} / `{reg['name']}` v{reg['version']}{aliases}"


def _pyfunc(r: dict) -> str:
    py = r.get("pyfunc")
    if not py:
        return "-"
    if "error" in py:
        return "fails (below)"
    value = f"{py['correct']:.0%} correct" if "correct" in py else f"RMSE {py['rmse']:.4g}"
    cells = " (list cells)" if py.get("cells") == "lists" else ""
    return f"{py['rows']} rows, {value}{cells}"


def _wall(r: dict) -> str:
    if "wall_s" not in r:
        return "-"
    m, s = divmod(int(r["wall_s"]), 60)
    return f"{m}:{s:02d}" + (f" + {r['check_s']:.0f} s" if r.get("check_s") else "")


def row(e: corpus.Entry, r: dict | None) -> str:
    cells = [f"`{e.name}`", e.kind, e.format, e.task, e.label_type]
    if r is None:
        return "| " + " | ".join([*cells, "-", "not run", "-", "-", "-", "-"]) + " |"
    nodes = f"{r.get('nodes_passed', 0)}/{len(NODE_ORDER)}"
    cells += [str(r.get("rows", "-")), nodes, _metric(r), _registered(r), _pyfunc(r), _wall(r)]
    return "| " + " | ".join(cells) + " |"


def line(e: corpus.Entry, r: dict, note: str = "") -> str:
    """The one line printed per dataset."""
    bad = first_failure(r)
    verdict = "OK" if bad is None else f"FAILED at {bad[0]}: {bad[1][:160]}"
    parts = [
        f"nodes {r.get('nodes_passed', 0)}/{len(NODE_ORDER)}",
        _metric(r),
        f"registered {_registered(r)}",
        f"pyfunc {_pyfunc(r)}",
        f"wall {_wall(r)}",
        verdict,
    ]
    return f"{e.name}: " + " | ".join(parts) + (f" ({note})" if note else "")


HEADER = """# Conformance corpus

    make conformance                      # every dataset not yet recorded
    make conformance ARGS='--only iris,signals --force'

Every dataset of the corpus (`bench/conformance/corpus.py`) is written as a data folder with its
`dataset.json` and run through the product's path, `make run DATA=<the folder>` (the generic
`retrain` DAG under `airflow dags test`), with the default warm executor, on a small budget:

- Params: {budget} (and a dataset's own, below);
- operator settings (`RETRAIN_SETTINGS`): {operator}.

Each dataset has a state directory of its own (ML Metadata, pipeline root, MLflow
store and registry) under `.local/conformance/state/NAME`. Then
`bench/conformance/check.py` loads `models:/<name>@champion` through MLflow's pyfunc and
predicts raw rows of the dataset (a CSV as pandas reads it; TFRecord examples as Python values,
arrays as numpy arrays in their declared shape, PNG bytes as bytes), up to 200 rows spread over
the data (training rows among them: this checks serving, not generalisation).

Columns: nodes passed of the 11 pipeline nodes (Airflow task states); metric: the Evaluator's
(accuracy, or RMSE for regression) on its eval split; blessed / registered version; pyfunc:
rows predicted and the share whose class equals the label, or the RMSE; wall: `make run` (m:ss;
rows before 2026-12-06: `airflow dags test` alone) plus the pyfunc check. Rows before
2026-12-06 ran under the first gate (accuracy above 0.5, a sanity bar); later rows under the
task-aware gate (clearly better than the trivial baseline on the test split). A source that is
not a folder (PostgreSQL) has no raw rows on disk: its pyfunc column is its fresh rows.

"""

LICENCES = """
## Sources and licences

- `iris`, `wine`, `breast_cancer`, `digits`, `diabetes`, `linnerud`: the tables scikit-learn
  ships inside its package (`sklearn/datasets/data`, read offline by `sklearn.datasets.load_*`),
  distributed with scikit-learn under the BSD 3-Clause licence (Copyright (c) 2007-2024 The
  scikit-learn developers). Original sources: Fisher's iris (1936); the UCI wine recognition and
  Wisconsin diagnostic breast cancer data; the UCI optical recognition of handwritten digits
  (8x8); Efron et al. (2004) diabetes; Linnerud's exercise data (Tenenhaus 1998).
- `penguins`: the repository's `data/penguins` (Palmer penguins, CC0; its LICENSE.md is copied
  into the data folder).
- `signals`, `images_png`, `images_rgb`, `clinic`, `wine_like` (tests/foreign.py), `grades`,
  `stores`, `sensors` (corpus.py): synthetic, seeded, generated at run time.
"""


def fresh_table(results: dict) -> list[str]:
    """The kinds of bench/conformance/kinds.py on fresh rows: the product's @champion beside
    the kind's scikit-learn reference and the majority class, on the same rows."""
    lines = [
        "",
        "## The data users have, on fresh rows",
        "",
        "Generated kinds (`bench/conformance/kinds.py`): the registered @champion's pyfunc on "
        "2,000 fresh rows of the generator (another seed, never trained on), beside a simple "
        "scikit-learn reference fitted on the same training rows, and the majority class.",
        "",
        "| dataset | fresh rows | product (accuracy) | reference | reference (accuracy) "
        "| majority class |",
        "|---|---|---|---|---|---|",
    ]
    for name in kinds.KINDS:
        fresh = (results.get(name) or {}).get("fresh")
        if not fresh:
            lines.append(f"| `{name}` | - | not run | {kinds.KINDS[name].reference} | - | - |")
        elif "error" in fresh:
            lines.append(f"| `{name}` | - | fails: {fresh['error'][:120]} | - | - | - |")
        else:
            lines.append(
                f"| `{name}` | {fresh['rows']} | {fresh['product']:.4f} | "
                f"{fresh['reference_model']} | {fresh['reference']:.4f} | {fresh['majority']:.4f} |"
            )
    return lines


def _relative(path: str) -> str:
    return str(Path(path).relative_to(REPO)) if str(path).startswith(f"{REPO}/") else path


def write(results: dict, folder: Path, budget: dict, operator: dict) -> None:
    """RESULTS.md and results.json (paths relative to the repository) in `folder`."""
    lines = [
        HEADER.format(
            budget=", ".join(f"`{k}` {json.dumps(v)}" for k, v in budget.items()),
            operator=f"`{json.dumps(operator)}`",
        )
    ]
    done = [r for r in results.values() if "started" in r]
    if done:
        first = min(r["started"] for r in done)
        last = max(r["started"] for r in done)
        total = sum(r.get("wall_s", 0) + r.get("check_s", 0) for r in done)
        good = sum(conforms(results[e.name]) for e in corpus.CORPUS if e.name in results)
        lines.append(
            f"Runs from {first} to {last} on {stamp()['machine']} "
            f"({len(done)} datasets, {total / 60:.0f} min in all). "
            f"**{good} of {len(corpus.CORPUS)} datasets reach a registered @champion whose "
            "pyfunc predicts raw rows.**\n"
        )
    head = "| dataset | kind | format | task | label | rows | nodes | metric | blessed / "
    head += "registered | pyfunc | wall |"
    lines += [head, "|" + "---|" * 11]
    lines += [row(e, results.get(e.name)) for e in corpus.CORPUS]
    problems = []
    for e in corpus.CORPUS:
        r = results.get(e.name)
        bad = first_failure(r) if r else None
        if bad:
            problems.append(f"- `{e.name}`: **{bad[0]}**: {bad[1]}")
        py = (r or {}).get("pyfunc") or {}
        extra = [x for x in py.get("errors", []) if not bad or x not in bad[1]]
        if extra:
            problems.append(f"- `{e.name}`: pyfunc with array cells: {extra[0]}")
    lines += fresh_table(results)
    if (folder / "autogluon.json").exists():  # make bench-autogluon's, kept as measured
        lines += ["", *autogluon.section(json.loads((folder / "autogluon.json").read_text()))]
    lines += ["", "## Failures", "", *(problems or ["None."])]
    lines += ["", "## What each dataset covers", ""]
    lines += [f"- `{e.name}` ({e.source}): {e.covers}." for e in corpus.CORPUS]
    lines.append(LICENCES)
    (folder / "RESULTS.md").write_text("\n".join(lines))
    shown = {}
    for name, r in results.items():
        r = dict(r)
        if "log" in r:
            r["log"] = _relative(r["log"])
        if r.get("registered"):
            uri = r["registered"]["tracking_uri"].replace(f"{REPO}/", "")
            r["registered"] = {**r["registered"], "tracking_uri": uri}
        if "data" in r.get("conf", {}):
            r["conf"] = {**r["conf"], "data": _relative(r["conf"]["data"])}
        shown[name] = r
    (folder / "results.json").write_text(json.dumps(shown, indent=1, sort_keys=True) + "\n")
