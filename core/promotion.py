"""Promotion: what a gated version gets, and the one code path that moves @champion.

The states, written once (the pusher, the approval task, the rollback, the docs read them):

- `NOT_BLESSED`: the gate refused the model; nothing is registered, no alias moves.
- `CHALLENGER`: blessed (clearly better than the trivial baseline, not clearly worse than the
  champion) but not at least as good as @champion on the gate metric, on the same test rows:
  registered and @challenger only. It never serves unless a person moves @champion to it.
- `CHAMPION`: blessed and at least as good as @champion (or there is none): registered,
  @challenger, and @champion moves to it (promotion `auto`), or it waits for a person's
  sign-off as @challenger (promotion `approval`).

With promotion `approval`, `promote` leaves a CHAMPION-state version `AWAITING` (tags
`signoff.*`: the reason @champion would move, and the @champion it was gated against), and
`sign_off` records a person's answer: `APPROVED` moves @champion through `make_champion`, as
`auto` does, with the same reason; `REJECTED` and `TIMED_OUT` leave it @challenger.

`make_champion` is the only code that moves @champion: the pusher, a sign-off, a rollback and a
hand move through the API all go through it, so every champion carries the same record (the
tags `champion.at`, `champion.by`, `champion.reason`, `champion.from`), which retention and
rollback read (`champion_history`).

Standard library at import; MLflow's client is passed in.
"""

from __future__ import annotations

import os
import time

from core import names

NOT_BLESSED = "not_blessed"
CHALLENGER = "challenger"
CHAMPION = "champion"
# The setting `promotion` (core/settings.py): who moves @champion for a CHAMPION-state version.
AUTO, APPROVAL = "auto", "approval"
MODES = (AUTO, APPROVAL)
# The pusher's outcome with promotion `approval`: @challenger, waiting for a person's sign-off.
AWAITING = "awaiting_approval"
STATES = {
    NOT_BLESSED: "nothing registered, no alias moves",
    CHALLENGER: "registered as @challenger only: blessed, but not at least as good as @champion "
    "on the gate metric on the same test rows",
    CHAMPION: "registered, @challenger and @champion (with promotion `approval`: @challenger "
    "and an approval task; @champion moves when a person approves)",
    AWAITING: "promotion `approval`: a CHAMPION-state version, registered as "
    "@challenger only, with an approval task in its DAG run; @champion moves when a person "
    "approves",
}


# A sign-off's states (the tag `signoff.state`).
SIGNOFF_AWAITING, APPROVED, REJECTED, TIMED_OUT = "awaiting", "approved", "rejected", "timed_out"


class SignOffError(ValueError):
    """A sign-off that cannot be applied: the version awaits none, or @champion moved since the
    gate judged it (its evidence no longer compares it with the champion in service)."""


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


def _artifact_gone(version) -> bool:
    """Whether a registered version's ML Metadata model files are gone (a version without the
    tag, registered before it existed, is not known to be gone)."""
    uri = version.tags.get(names.TAG_MODEL_URI)
    return bool(uri) and "://" not in uri and not os.path.exists(uri)


def champion_reason(current, version, decision: dict) -> tuple[str | None, str]:
    """(why @champion moves to `version`, or None when it does not; a line a log should warn
    with, or ""), from the gate's `decision` (core/gate.py) and `current`, @champion's version
    (None: there is none): it moves when the gate found `version` at least as good as
    @champion on the same test rows (or there is none yet)."""
    from core import registry

    compared = decision.get("champion_model_id")
    if decision.get("state") != CHAMPION:
        was = None if current is None else current.version
        return None, (
            f"KEPT AS CHALLENGER: version {version.version}: {decision.get('reason')}. "
            f"@{names.CHAMPION} stays on version {was}."
        )
    if current is None:
        return f"no champion yet: {decision.get('reason')}", ""
    if compared is not None and current.tags.get(names.TAG_MODEL_ARTIFACT_ID) == str(compared):
        return f"at least as good as version {current.version}: {decision.get('reason')}", ""
    if compared is None and _artifact_gone(current):
        # The stuck champion: its model artifact left this store (reset, migrated, cleaned), so
        # no run could ever be evaluated against it. Say so, and let this one serve.
        reason = (
            f"the champion, version {current.version}, has no model artifact in this store "
            f"any more ({current.tags.get(names.TAG_MODEL_URI)} is gone): gated against "
            f"the trivial baseline only: {decision.get('reason')}"
        )
        return reason, f"CHAMPION REPLACED WITHOUT A COMPARISON: {reason}"
    usable, why = registry.schema_check(
        current.tags, version.tags.get(names.TAG_LABEL), version.tags.get(names.TAG_SCHEMA)
    )
    return None, (
        f"@{names.CHAMPION} stays on version {current.version}: version {version.version} was "
        "not evaluated against it"
        + ("" if usable else f" ({why}; set @{names.CHAMPION} by hand if it should serve)")
    )


def promote(client, model: str, version, decision: dict, mode: str = AUTO) -> tuple[str, str]:
    """(state, why) of a registered, blessed `version` (an MLflow ModelVersion holding
    @challenger): CHAMPION when @champion moved to it (or already was there), CHALLENGER when
    it does not, AWAITING when it would but promotion is `approval` (tagged `signoff.*`; a
    person's `sign_off` decides). `why`: the reason, or the line to warn with."""
    from core import registry

    if mode not in MODES:
        raise ValueError(f"promotion {mode!r} is not one of {MODES}")
    current = registry.version_by_alias(client, model, names.CHAMPION)
    if current is not None and current.version == version.version:
        return CHAMPION, f"version {version.version} is @{names.CHAMPION} already"
    reason, warning = champion_reason(current, version, decision)
    if reason is None:
        return CHALLENGER, warning
    if mode == APPROVAL:
        for key, value in (
            (names.TAG_SIGNOFF_STATE, SIGNOFF_AWAITING),
            (names.TAG_SIGNOFF_CHAMPION, "" if current is None else str(current.version)),
            (names.TAG_SIGNOFF_PROMOTION_REASON, reason[:4000]),
        ):
            client.set_model_version_tag(model, str(version.version), key, value)
        return AWAITING, reason
    make_champion(client, model, version.version, reason)
    return CHAMPION, warning or reason


def sign_off(client, model: str, version: str | int, answer: str, by: str, why: str) -> dict:
    """Records a person's answer to a version AWAITING sign-off (`APPROVED`, `REJECTED`, or
    `TIMED_OUT`: nobody answered in time) on its tags (`signoff.state`, `.by`, `.at`,
    `.reason`); APPROVED moves @champion through `make_champion` with the pusher's reason.
    Refused (SignOffError, nothing changed) when the version awaits no sign-off, or when an
    approval finds @champion moved since the gate compared the two. Returns what was done."""
    from core import registry

    if answer not in (APPROVED, REJECTED, TIMED_OUT):
        raise ValueError(f"answer {answer!r} is not one of {(APPROVED, REJECTED, TIMED_OUT)}")
    version = str(version)
    tags = client.get_model_version(model, version).tags
    state = tags.get(names.TAG_SIGNOFF_STATE)
    if state != SIGNOFF_AWAITING:
        raise SignOffError(f"{model} version {version} awaits no sign-off (state {state!r})")
    current = registry.version_by_alias(client, model, names.CHAMPION)
    was = "" if current is None else str(current.version)
    gated = tags.get(names.TAG_SIGNOFF_CHAMPION, "")
    if answer == APPROVED and was != gated:
        raise SignOffError(
            f"@{names.CHAMPION} of {model} is version {was or 'none'}, not version "
            f"{gated or 'none'} that the gate compared version {version} with: the evidence is "
            "stale; nothing promoted (a new run gates it against the champion in service)"
        )
    done = {"model": model, "version": version, "answer": answer, "by": by, "at": now()}
    done.update(reason=why.strip(), champion_before=was or None)
    if answer == APPROVED:
        reason = f"approved by {by}: {tags.get(names.TAG_SIGNOFF_PROMOTION_REASON, '')}"
        if done["reason"]:
            reason += f" ({done['reason']})"
        make_champion(client, model, version, reason, by=by)
    for key, value in (
        (names.TAG_SIGNOFF_STATE, answer),
        (names.TAG_SIGNOFF_BY, by),
        (names.TAG_SIGNOFF_AT, done["at"]),
        (names.TAG_SIGNOFF_REASON, done["reason"][:4000]),
    ):
        client.set_model_version_tag(model, version, key, value)
    return done
