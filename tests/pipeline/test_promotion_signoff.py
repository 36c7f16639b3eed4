"""promotion `approval` in the registry (core/promotion.py): a version the gate found at least as
good as @champion waits (tagged) instead of moving @champion, under `auto` it moves as before;
an approval whose evidence is stale (@champion moved since) is refused and changes nothing. A
real MLflow registry (SQLite); the Airflow side is tests/airflow/test_signoff.py."""

from __future__ import annotations

import pytest

from core import names, promotion, tracking

BETTER = {"state": promotion.CHAMPION, "reason": "at least as good", "champion_model_id": 11}


def registry(tmp_path, versions: int):
    client = tracking.use(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model("m")
    made = [
        client.create_model_version(
            "m", str(tmp_path), tags={names.TAG_MODEL_ARTIFACT_ID: str(10 + n)}
        )
        for n in range(1, versions + 1)
    ]
    promotion.make_champion(client, "m", made[0].version, "the first")
    return client, made


def champion(client) -> str:
    return str(client.get_model_version_by_alias("m", names.CHAMPION).version)


def test_approval_waits_where_auto_moves(tmp_path):
    client, (_, v2, v3) = registry(tmp_path, 3)
    state, why = promotion.promote(client, "m", v2, BETTER, promotion.APPROVAL)
    assert state == promotion.AWAITING and champion(client) == "1"
    tags = client.get_model_version("m", v2.version).tags
    assert tags[names.TAG_SIGNOFF_STATE] == promotion.SIGNOFF_AWAITING
    assert tags[names.TAG_SIGNOFF_CHAMPION] == "1"
    assert (
        tags[names.TAG_SIGNOFF_PROMOTION_REASON]
        == why
        == "at least as good as version 1: at least as good"
    )
    state, _ = promotion.promote(client, "m", v3, BETTER, promotion.AUTO)
    assert state == promotion.CHAMPION and champion(client) == "3"
    assert names.TAG_SIGNOFF_STATE not in client.get_model_version("m", v3.version).tags


def test_a_stale_approval_is_refused_and_a_fresh_one_moves_champion(tmp_path):
    client, (_, v2, v3) = registry(tmp_path, 3)
    for v in (v2, v3):
        promotion.promote(client, "m", v, BETTER, promotion.APPROVAL)
    done = promotion.sign_off(client, "m", v2.version, promotion.APPROVED, "alice", "ok")
    assert champion(client) == "2" and done["champion_before"] == "1"
    moved = client.get_model_version("m", v2.version).tags
    assert (
        moved[names.TAG_CHAMPION_BY] == "alice"
        and "approved by alice" in moved[names.TAG_CHAMPION_REASON]
    )
    # v3 was gated against version 1, which no longer serves: its evidence is stale.
    with pytest.raises(promotion.SignOffError, match="stale"):
        promotion.sign_off(client, "m", v3.version, promotion.APPROVED, "alice", "")
    assert champion(client) == "2"
    assert client.get_model_version("m", v3.version).tags[names.TAG_SIGNOFF_STATE] == "awaiting"
    # a version that awaits nothing cannot be signed off (twice, say)
    with pytest.raises(promotion.SignOffError, match="awaits no sign-off"):
        promotion.sign_off(client, "m", v2.version, promotion.REJECTED, "bob", "")
