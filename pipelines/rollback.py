"""Move a registered model's @champion back: to the version before it, or to a version you name,
and record why.

    python -m pipelines.rollback --model NAME --reason TEXT [--version N] [--settings JSON]

The `rollback` DAG (dags/rollback.py) runs this. The version before the champion is the newest
registered version older than it. The target version gets the tags `rollback.reason`,
`rollback.from_version` and `rollback.at`; the registered model gets `rollback.last`, a JSON
object of the same. @challenger is left where it is. The next run's ChampionResolver takes the
new @champion: a warm run starts from it, and the Evaluator gates against it.

`--settings` locates MLflow as the pipeline does (pipelines/settings.py: its tracking URI, or
the SQLite store beside the ML Metadata file). The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from components.mlflow_pusher import registry
from core import names, tracking
from pipelines.settings import Settings


class RollbackError(ValueError):
    """The rollback cannot be done as asked: no such model or version, nothing before it."""


def rollback(client, model: str, reason: str, version: int | None = None) -> dict:
    """Moves `model`@champion to `version` (None: the version before the champion); what was
    done, as {"model", "from", "to", "reason", "at"}."""
    if not reason.strip():
        raise RollbackError("say why: a rollback needs a reason")
    found = client.search_model_versions(f"name = {tracking.literal(model)}")
    versions = sorted(int(v.version) for v in found)
    if not versions:
        raise RollbackError(f"no registered model {model!r} (or it has no versions)")
    current = registry.version_by_alias(client, model, names.CHAMPION)
    was = int(current.version) if current is not None else None
    if version is None:
        if was is None:
            raise RollbackError(f"{model} has no @{names.CHAMPION}: name the version to serve")
        older = [v for v in versions if v < was]
        if not older:
            raise RollbackError(
                f"{model}@{names.CHAMPION} is version {was}, its oldest: name a version"
            )
        version = older[-1]
    if version not in versions:
        raise RollbackError(f"{model} has no version {version} (versions: {versions})")
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    done = {"model": model, "from": was, "to": version, "reason": reason.strip(), "at": at}
    client.set_registered_model_alias(model, names.CHAMPION, str(version))
    for key, value in (
        (names.TAG_ROLLBACK_REASON, done["reason"]),
        (names.TAG_ROLLBACK_FROM, str(was)),
        (names.TAG_ROLLBACK_AT, at),
    ):
        client.set_model_version_tag(model, str(version), key, value)
    client.set_registered_model_tag(model, names.TAG_LAST_ROLLBACK, json.dumps(done))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.rollback", description=__doc__)
    parser.add_argument("--model", required=True, help="the registered model's name")
    parser.add_argument("--reason", required=True, help="why: recorded in the tags")
    parser.add_argument("--version", type=int, default=None, help="default: the one before")
    parser.add_argument("--settings", default="{}", help="pipeline settings (JSON)")
    args = parser.parse_args(argv)
    uri, _ = Settings.from_json(args.settings).tracking()
    try:
        done = rollback(tracking.client(uri), args.model, args.reason, args.version)
    except RollbackError as e:
        print(f"ROLLBACK REFUSED: {e}", file=sys.stderr, flush=True)
        return 2
    print(
        f"ROLLBACK: {done['model']}@{names.CHAMPION} version {done['from']} -> {done['to']} "
        f"({done['reason']})"
    )
    print("RESULT " + json.dumps(done, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
