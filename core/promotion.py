"""Promotion: what a gated version gets, and the one code path that moves @champion.

The states, written once (the pusher, the approval task, the rollback, the docs read them):

- `NOT_BLESSED`: the gate refused the model; nothing is registered, no alias moves.
- `CHALLENGER`: blessed (clearly better than the trivial baseline, not clearly worse than the
  champion) but not at least as good as @champion on the gate metric, on the same test rows:
  registered and @challenger only. It never serves unless a person moves @champion to it.
- `CHAMPION`: blessed and at least as good as @champion (or there is none): registered,
  @challenger, and @champion moves to it (promotion `auto`), or it waits for a person's
  sign-off as @challenger (promotion `approval`).

`make_champion` is the only code that moves @champion: the pusher, a sign-off, a rollback and a
hand move through the API all go through it, so every champion carries the same record (the
tags `champion.at`, `champion.by`, `champion.reason`, `champion.from`), which retention and
rollback read (`champion_history`).

Standard library at import; MLflow's client is passed in.
"""

from __future__ import annotations

import time

from core import names

NOT_BLESSED = "not_blessed"
CHALLENGER = "challenger"
CHAMPION = "champion"
STATES = {
    NOT_BLESSED: "nothing registered, no alias moves",
    CHALLENGER: "registered as @challenger only: blessed, but not at least as good as @champion "
    "on the gate metric on the same test rows",
    CHAMPION: "registered, @challenger and @champion (with promotion `approval`: @challenger "
    "and an approval task; @champion moves when a person approves)",
}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_champion(client, model: str, version: str | int, reason: str, by: str = "pipeline"):
    """Move `model`@champion to `version` and record it on the version: when, by whom (the
    pipeline, a user's name, "rollback"), why, and the version it replaced. Returns the version
    it replaced (None: there was none)."""
    from core import registry

    current = registry.version_by_alias(client, model, names.CHAMPION)
    previous = None if current is None else str(current.version)
    version = str(version)
    client.set_registered_model_alias(model, names.CHAMPION, version)
    for key, value in (
        (names.TAG_CHAMPION_AT, now()),
        (names.TAG_CHAMPION_BY, by),
        (names.TAG_CHAMPION_REASON, reason[:4000]),
        (names.TAG_CHAMPION_FROM, previous or ""),
    ):
        client.set_model_version_tag(model, version, key, value)
    return previous


def champion_history(client, model: str) -> list:
    """The versions that have been @champion, the most recent first (by `champion.at`; the
    current champion first when it carries no record, as one promoted before records)."""
    from core import tracking

    found = client.search_model_versions(f"name = {tracking.literal(model)}")
    been = [v for v in found if v.tags.get(names.TAG_CHAMPION_AT)]
    been.sort(key=lambda v: (v.tags[names.TAG_CHAMPION_AT], int(v.version)), reverse=True)
    return been
