"""The tables of bench/serving/RESULTS.md, from results.json (key "stack": stack_run.py's run;
a second file for a run to compare, the same way):

    python bench/serving/table.py [bench/serving/results.json] [KEY]

Prints markdown: per switch, the seconds from the alias move to the front serving the new version
and where they went; then latency, throughput and errors before, during, around and after each
switch, with the ratio of p99 to the p99 at rest before it; then the rest windows beside the
in-process pyfunc.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = (  # (label, key of the breakdown), in the order they happen
    ("Asset event", "asset_event"),
    ("run queued", "run_queued"),
    ("task started", "task_started"),
    ("server starting", "front_starting"),
    ("server ready", "front_ready"),
    ("server ready (before)", "front_started"),
    ("switched", "front_switched"),
    ("task ended", "task_ended"),
)


def cell(value) -> str:
    return "" if value is None else f"{value}"


def follow_table(run: dict) -> list[str]:
    rows = [("first (1)", run["first"])]
    rows += [(f"{i + 1} (to {s['to']})", s) for i, s in enumerate(run["switches"])]
    present = [(label, key) for label, key in STEPS if any(key in r["breakdown"] for _, r in rows)]
    head = "| switch | served after s | " + " | ".join(label for label, _ in present) + " |"
    out = [head, "|" + "---|" * (2 + len(present))]
    for name, row in rows:
        marks = [cell(row["breakdown"].get(key)) for _, key in present]
        out.append(f"| {name} | **{cell(row['follow_s'])}** | " + " | ".join(marks) + " |")
    return out


def load_table(run: dict) -> list[str]:
    out = [
        "| switch | window | s | requests | errors | p50 ms | p99 ms | p99 / before | req/s "
        "| served by |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for i, row in enumerate(run["switches"]):
        rest = row["before"]["p99_ms"]
        for name in ("before", "during", "switch", "after"):
            w = row[name]
            ratio = f"{w['p99_ms'] / rest:.2f}" if rest and w["requests"] else ""
            label = f"{i + 1} (to {row['to']})" if name == "before" else ""
            out.append(
                f"| {label} | {name} | {w['seconds']} | {w['requests']} | {w['errors']} "
                f"| {w['p50_ms']} | {w['p99_ms']} | {ratio} | {w['rps']} "
                f"| {', '.join(w['versions'])} |"
            )
    return out


def rest_table(run: dict) -> list[str]:
    out = ["| path | requests | errors | p50 ms | p99 ms | req/s |", "|---|--:|--:|--:|--:|--:|"]
    for name, key in (
        ("straight to the model server", "rest_direct"),
        ("through the front", "rest_front"),
    ):
        w = run[key]
        out.append(
            f"| {name} | {w['requests']} | {w['errors']} | {w['p50_ms']} | {w['p99_ms']} "
            f"| {w['rps']} |"
        )
    p = run["in_process"]
    out.append(
        f"| in-process pyfunc (1 thread) | {p['calls']} calls | 0 | {p['p50_ms']} "
        f"| {p['p99_ms']} | {p['rps']} |"
    )
    return out


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else HERE / "results.json"
    run = json.loads(path.read_text())[argv[1] if len(argv) > 1 else "stack"]
    print(f"{run['date']}, {run['machine']}, commit {run['commit']}, load {run['load_before']}")
    for table in (follow_table, load_table, rest_table):
        print()
        print("\n".join(table(run)))
    print()
    print(f"total: {run.get('total_requests')} requests, {run.get('total_errors')} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
