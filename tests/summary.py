"""The end of `make test`: one line per step and per test tree (passed, failed, skipped, time),
the failed tests by name, and a closing total line, read from each tree's JUnit XML.

    python -m tests.summary --step lint=0 --step docs=0 \\
        --tree airflow=.local/test-results/airflow.xml:0 --tree pipeline=...xml:1

A step is NAME=EXIT_STATUS; a tree is NAME=XML:EXIT_STATUS (a tree whose pytest wrote no XML,
or exited non-zero with nothing failed in it, is reported as such). Exits 1 when anything
failed. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def tree_counts(xml: Path) -> dict:
    """passed, failed (failures and errors), skipped, seconds and the failed tests' ids."""
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0, "failures": []}
    for suite in suites:
        counts["seconds"] += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                counts["failed"] += 1
                counts["failures"].append(name)
            elif case.find("skipped") is not None:
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    return counts


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def summary(steps: dict[str, int], trees: dict[str, tuple[Path, int]]) -> tuple[list[str], bool]:
    """The summary's lines, and whether everything passed."""
    lines, ok, passed, failed = ["== make test summary"], True, 0, 0
    for name, status in steps.items():
        ok &= status == 0
        lines.append(f"  {name:<9} {'passed' if status == 0 else f'FAILED (exit {status})'}")
    for name, (xml, status) in trees.items():
        if not xml.is_file():
            ok = False
            failed += 1
            lines.append(f"  {name:<9} FAILED: no results (pytest exit {status})")
            continue
        c = tree_counts(xml)
        passed, failed = passed + c["passed"], failed + c["failed"]
        ok &= status == 0 and c["failed"] == 0
        note = f"; pytest exit {status}" if status and not c["failed"] else ""
        lines.append(
            f"  {name:<9} {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped "
            f"in {_minutes(c['seconds'])}{note}"
        )
        lines += [f"    failed: {f}" for f in c["failures"]]
    lines.append(f"total: {passed} passed, {failed} failed")
    return lines, ok


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.summary", description=__doc__)
    parser.add_argument("--step", type=_pair, action="append", default=[])
    parser.add_argument("--tree", type=_pair, action="append", default=[])
    args = parser.parse_args(argv)
    steps = {name: int(status) for name, status in args.step}
    trees = {}
    for name, value in args.tree:
        xml, _, status = value.rpartition(":")
        trees[name] = (Path(xml), int(status))
    lines, ok = summary(steps, trees)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
