"""What the benchmarks write the same way, once: the header of a result (its date, machine
and commit), and the search settings the NAS benchmarks ran with. Standard library only."""

from __future__ import annotations

import datetime
import os
import platform
import sqlite3
import subprocess
from pathlib import Path


def stamp() -> dict[str, str]:
    """The date and machine of a result: {"date": "2026-12-06", "machine": "host (2 cores)"}."""
    return {
        "date": str(datetime.date.today()),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
    }


def commit() -> str:
    """The repository's short commit (what a result was measured at)."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    ).stdout.strip()


# The settings bench/nas and bench/modes searched with, whatever the engine's defaults: no
# learning-curve stop and no weight inheritance (unless a method asks), no time budget (the
# compute budget or max_trials ends a search), and no re-evaluation (its reruns are not in the
# compute).
AS_BENCHMARKED = {
    "curve_stop": False,
    "inherit_weights": False,
    "time_budget_min": 1e6,
    "reevaluate_top": 1,
}


def node_seconds(store) -> dict[str, float]:
    """Each node's execution time in an ML Metadata SQLite file: last update minus creation."""
    query = """
        SELECT c.name, e.create_time_since_epoch, e.last_update_time_since_epoch
        FROM Execution e JOIN Association a ON a.execution_id = e.id
        JOIN Context c ON c.id = a.context_id JOIN Type t ON t.id = c.type_id
        WHERE t.name = 'node'"""
    with sqlite3.connect(store) as db:
        rows = db.execute(query).fetchall()
    return {name.rsplit(".", 1)[-1]: (end - start) / 1000 for name, start, end in rows}


def fit_and_score(models: dict, x, y, x_test, y_test) -> dict:
    """Each reference model fit on (x, y) and scored on (x_test, y_test): {name: {"accuracy",
    "fit_s"}}, the figure every bench puts beside the product's on the same rows."""
    import time

    import numpy as np

    out = {}
    for name, model in models.items():
        t0 = time.monotonic()
        model.fit(x, y)
        out[name] = {
            "accuracy": float(np.mean(model.predict(x_test) == y_test)),
            "fit_s": round(time.monotonic() - t0, 1),
        }
    return out
