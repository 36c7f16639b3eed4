"""The line a pipeline command ends with, `RESULT {json}` (python -m pipelines.run_node,
pipelines.retention, pipelines.rollback), and how the DAGs read it back: written once.
Standard library only."""

from __future__ import annotations

import json

PREFIX = "RESULT "


def emit(value: dict) -> None:
    """Print `value` as the command's RESULT line."""
    print(PREFIX + json.dumps(value, sort_keys=True), flush=True)


def finish(said: str, value: dict) -> int:
    """A command's last words: the line `said` for people, then the RESULT line; exit 0."""
    print(said, flush=True)
    emit(value)
    return 0


def parse(line: str) -> dict | None:
    """The value of a RESULT line; None for any other line."""
    return json.loads(line[len(PREFIX) :]) if line.startswith(PREFIX) else None


def last(lines) -> dict | None:
    """The value of the last RESULT line among `lines` (None: there is none)."""
    found = [value for value in map(parse, lines) if value is not None]
    return found[-1] if found else None
