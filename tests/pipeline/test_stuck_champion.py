"""The stuck champion: when @champion's model artifact has left the store (reset, migrated,
cleaned), no run can be evaluated against it, so without care @champion would never move again.
The pusher then lets a version the gate found better than the trivial baseline take it, and says
so. A real
MLflow registry (SQLite) and the pusher's own alias logic."""

from __future__ import annotations

import logging

from components.mlflow_pusher.executor import Executor
from core import names, promotion, tracking

# The gate found the version better than the trivial baseline, with no champion to compare with.
BETTER = {"state": promotion.CHAMPION, "reason": "blessed and better", "champion_model_id": None}


def registry(tmp_path, champion_files: str):
    client = tracking.use(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model("m")
    tags = {names.TAG_LABEL: "y", names.TAG_SCHEMA: "s"}
    v1 = client.create_model_version(
        "m", str(tmp_path), tags={**tags, names.TAG_MODEL_URI: champion_files}
    )
    v2 = client.create_model_version(
        "m", str(tmp_path), tags={**tags, names.TAG_MODEL_URI: str(tmp_path)}
    )
    client.set_registered_model_alias("m", names.CHAMPION, v1.version)
    return client, v2


def test_a_champion_whose_files_are_gone_is_replaced_and_the_log_says_so(tmp_path, caplog):
    client, v2 = registry(tmp_path, str(tmp_path / "Trainer" / "model" / "7"))
    with caplog.at_level(logging.WARNING):
        state = Executor()._promote(client, "m", v2, BETTER, promotion.AUTO)
    assert state == promotion.CHAMPION
    assert client.get_model_version_by_alias("m", names.CHAMPION).version == v2.version
    assert "CHAMPION REPLACED WITHOUT A COMPARISON" in caplog.text
    assert "version 1, has no model artifact in this store any more" in caplog.text
    # Promoted through the one code path that moves @champion, which records the move.
    moved_to = client.get_model_version("m", v2.version)
    assert moved_to.tags[names.TAG_CHAMPION_BY] == "pipeline"
    assert moved_to.tags[names.TAG_CHAMPION_FROM] == "1"


def test_a_version_not_at_least_as_good_stays_challenger(tmp_path, caplog):
    client, v2 = registry(tmp_path, str(tmp_path))
    worse = {"state": promotion.CHALLENGER, "reason": "not at least as good"}
    worse["champion_model_id"] = 1
    with caplog.at_level(logging.WARNING):
        state = Executor()._promote(client, "m", v2, worse, promotion.AUTO)
    assert state == promotion.CHALLENGER
    assert str(client.get_model_version_by_alias("m", names.CHAMPION).version) == "1"
    assert "KEPT AS CHALLENGER" in caplog.text and "not at least as good" in caplog.text


def test_a_champion_still_in_the_store_stays_when_not_compared(tmp_path, caplog):
    """The race it must not break: a champion set by another run meanwhile stays."""
    client, v2 = registry(tmp_path, str(tmp_path))
    with caplog.at_level(logging.WARNING):
        state = Executor()._promote(client, "m", v2, BETTER, promotion.AUTO)
    assert state == promotion.CHALLENGER
    assert str(client.get_model_version_by_alias("m", names.CHAMPION).version) == "1"
    assert "@champion stays on version 1" in caplog.text
