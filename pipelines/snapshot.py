"""Read a PostgreSQL source into a snapshot folder (core/pg_snapshot.py), before any node runs.

    python -m pipelines.snapshot --data postgresql://USER@HOST:PORT/DB?table=NAME --root DIR

The password is $RETRAIN_PG_PASSWORD (the DAG's check_params puts the Airflow Connection's
there, in this process's environment only). Ends with `RESULT {"folder", "rows", "key",
"columns"}`; on failure, `RETRAIN ERROR permanent: <one line>` and exit status 4.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core import failures, results
from core.pg_snapshot import take
from core.pg_source import PASSWORD_ENV, SourceError, parse

log = logging.getLogger("snapshot")


def snapshot(data: str, root: str, password: str | None = None) -> dict:
    """Takes the snapshot of the source `data` under `root` (the password: `password`, else
    $RETRAIN_PG_PASSWORD); what core/pg_snapshot.take returns."""
    source = parse(data)
    found = take(source, password or os.environ.get(PASSWORD_ENV), root)
    log.info(
        "snapshot of %s: %d rows, %d columns, in %s",
        source.uri,
        found["rows"],
        len(found["columns"]),
        found["folder"],
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.snapshot", description=__doc__)
    parser.add_argument("--data", required=True, help="the postgresql:// source")
    parser.add_argument("--root", required=True, help="the folder of the snapshots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        found = snapshot(args.data, args.root)
    except SourceError as e:
        print(f"{failures.MARK}{failures.PERMANENT}: {e}", file=sys.stderr, flush=True)
        return failures.EXIT_PERMANENT
    results.emit(found)
    return failures.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
