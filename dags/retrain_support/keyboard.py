"""`make run DATA=/path/to/folder [LABEL=column]`: whoever types `make run` is the operator, so
the folder they name (or the postgresql:// source: its database) is trusted for that run. It is
added to the allowed roots of that one `airflow dags test` only (through the RETRAIN_SETTINGS
of its process); a deployment's trust boundary (allowed_roots, $RETRAIN_ALLOWED_ROOTS,
docs/security.md) is unchanged.

    python -m dags.retrain_support.keyboard FOLDER LABEL CONF    (LABEL and CONF may be "")

prints two lines: the run's conf (CONF with `data` and `label`), then the RETRAIN_SETTINGS
for the run. A folder that does not exist is refused at once, in one line. Standard library
only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core import pg_source
from core import settings as contract


def conf(base: str, data: str, label: str = "") -> dict:
    """The run's Params: `base` (make run's CONF, JSON) with the folder, absolute, and the
    label; ValueError naming what is wrong."""
    try:
        params = json.loads(base or "{}")
    except ValueError as e:
        params = e
    if not isinstance(params, dict):
        raise ValueError(f"CONF is not a JSON object: {base} ({params})")
    if pg_source.is_source(data):
        out = dict(params, data=pg_source.parse(data).uri)  # SourceError: a ValueError
        return dict(out, label=label) if label else out
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise ValueError(f"DATA={data}: no such folder")
    out = dict(params, data=os.path.realpath(folder))
    return dict(out, label=label) if label else out


def operator_settings(data: str, environ: dict) -> dict:
    """$RETRAIN_SETTINGS of `environ` with `data` added to the allowed roots in force (the
    settings' own, else $RETRAIN_ALLOWED_ROOTS, else the contract's default): the channel the
    DAG's trust check reads first (dags/retrain_support/trust.py: setting)."""
    ours = json.loads(environ.get("RETRAIN_SETTINGS") or "{}")
    if "allowed_roots" in ours:
        roots = list(ours["allowed_roots"])
    else:
        raw = environ.get("RETRAIN_ALLOWED_ROOTS", "")
        roots = json.loads(raw) if raw.strip() else list(contract.SETTINGS["allowed_roots"].default)
    if pg_source.is_source(data):
        return dict(ours, allowed_roots=[*roots, pg_source.parse(data).uri.partition("?")[0]])
    return dict(ours, allowed_roots=[*roots, os.path.realpath(Path(data).expanduser())])


def main(argv: list[str] | None = None) -> int:
    """make run's: FOLDER LABEL CONF (Makefile: run)."""
    data, label, base = sys.argv[1:] if argv is None else argv
    try:
        print(json.dumps(conf(base, data, label)))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(operator_settings(data, dict(os.environ))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
