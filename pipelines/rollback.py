"""Move a registered model's @champion back: to the champion before it, or to a version you
name, and record why.

    python -m pipelines.rollback --model NAME --reason TEXT [--version N] [--settings JSON]

The `rollback` DAG (dags/rollback.py) runs this. The champion before it is the most recent
earlier champion in the model's record (core/promotion.py's `champion_history`: the versions
@champion moved to), skipping the current one, versions a rollback already moved @champion away
from, and versions that were only ever @challenger; retention keeps the last
`retention_keep_champions` of them. A registry without any record (champions promoted before
records existed) goes back to the newest version older than the champion, and says so.
@champion moves through `make_champion` (by "rollback", the reason recorded), and the target
version also gets the tags `rollback.reason`, `rollback.from_version` and `rollback.at`; the
registered model gets `rollback.last`, a JSON object of the same. @challenger is left where it
is. The next run's ChampionResolver takes the new @champion: a warm run starts from it, and the
Evaluator gates against it.

`--settings` locates MLflow as the pipeline does (pipelines/settings.py: its tracking URI, or
the SQLite store beside the ML Metadata file). The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import sys

from core import names, promotion, registry, results, tracking
from pipelines.settings import Settings


class RollbackError(ValueError):
    """The rollback cannot be done as asked: no such model or version, nothing before it."""


def previous_champion(client, model: str, current: int, found: list):
    """(version, how it was chosen): the champion before `current` among the model's versions
    `found` (the module's docstring says which)."""
    versions = sorted(int(v.version) for v in found)
    history = promotion.champion_history(client, model)
    if not history:
        older = [v for v in versions if v < current]
        if not older:
            raise RollbackError(
                f"{model}@{names.CHAMPION} is version {current}, its oldest: name a version"
            )
        return older[-1], "the newest older version (no champion record in this registry)"
    left = {v.tags.get(names.TAG_ROLLBACK_FROM) for v in found} - {None, ""}
    earlier = [
        int(v.version) for v in history if int(v.version) != current and v.version not in left
    ]
    if not earlier:
        been = [int(v.version) for v in history]
        raise RollbackError(
            f"{model}@{names.CHAMPION} is version {current} and no earlier champion is left to go "
            f"back to (champions: {been}, rolled back from: {sorted(left)}): name a version"
        )
    return earlier[0], "the champion before it"


def rollback(client, model: str, reason: str, version: int | None = None) -> dict:
    """Moves `model`@champion to `version` (None: the champion before it); what was done, as
    {"model", "from", "to", "reason", "at", "chosen"}."""
    if not reason.strip():
        raise RollbackError("say why: a rollback needs a reason")
    found = client.search_model_versions(f"name = {tracking.literal(model)}")
    versions = sorted(int(v.version) for v in found)
    if not versions:
        raise RollbackError(f"no registered model {model!r} (or it has no versions)")
    current = registry.version_by_alias(client, model, names.CHAMPION)
    was = int(current.version) if current is not None else None
    chosen = "named"
    if version is None:
        if was is None:
            raise RollbackError(f"{model} has no @{names.CHAMPION}: name the version to serve")
        version, chosen = previous_champion(client, model, was, found)
    if version not in versions:
        raise RollbackError(f"{model} has no version {version} (versions: {versions})")
    done = {"model": model, "from": was, "to": version, "reason": reason.strip()}
    done.update(at=promotion.now(), chosen=chosen)
    promotion.make_champion(client, model, version, f"rollback: {done['reason']}", by="rollback")
    for key, value in (
        (names.TAG_ROLLBACK_REASON, done["reason"]),
        (names.TAG_ROLLBACK_FROM, str(was)),
        (names.TAG_ROLLBACK_AT, done["at"]),
    ):
        client.set_model_version_tag(model, str(version), key, value)
    client.set_registered_model_tag(model, names.TAG_LAST_ROLLBACK, json.dumps(done))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.rollback", description=__doc__)
    parser.add_argument("--model", required=True, help="the registered model's name")
    parser.add_argument("--reason", required=True, help="why: recorded in the tags")
    parser.add_argument("--version", type=int, default=None, help="default: the champion before")
    parser.add_argument("--settings", default="{}", help="pipeline settings (JSON)")
    args = parser.parse_args(argv)
    uri, _ = Settings.from_json(args.settings).tracking()
    try:
        done = rollback(tracking.client(uri), args.model, args.reason, args.version)
    except RollbackError as e:
        print(f"ROLLBACK REFUSED: {e}", file=sys.stderr, flush=True)
        return 2
    lines = [
        f"rollback target: version {done['to']}, {done['chosen']}",
        f"ROLLBACK: {done['model']}@{names.CHAMPION} version {done['from']} -> {done['to']} "
        f"({done['reason']})",
    ]
    return results.finish("\n".join(lines), done)


if __name__ == "__main__":
    sys.exit(main())
