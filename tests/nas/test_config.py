"""The pipeline's settings and the NAS engine agree on names and on the search config."""

from __future__ import annotations

import json

from core.settings import SETTINGS
from nas.config import AUTO, SearchConfig
from nas.spaces import SPACES
from nas.strategies import STRATEGIES
from pipelines import settings as retrain


def test_pipeline_names_match_the_engine():
    assert sorted(SETTINGS["space"].choices) == sorted([AUTO, *SPACES])
    assert SETTINGS["space"].default == AUTO
    assert sorted(SETTINGS["strategy"].choices) == sorted(STRATEGIES)


def test_settings_become_a_valid_search_config():
    s = retrain.Settings.from_json(
        json.dumps(
            {
                "space": "cells",
                "strategy": "reinforce",
                "search_fidelity": {"epochs": 2, "width": 0.5},
                "curve_stop": False,
                "morphism": True,
                "successive_halving": True,
                "patience": 4,
                "max_params": 50000,
                "surrogate": True,
            }
        )
    )
    cfg = SearchConfig.from_dict(s.search_config())
    assert (cfg.space, cfg.strategy, cfg.patience, cfg.max_params) == (
        "cells",
        "reinforce",
        4,
        50000,
    )
    assert cfg.search_fidelity.width == 0.5 and cfg.morphism
    assert not cfg.curve_stop and cfg.surrogate
    assert cfg.successive_halving and cfg.halving_rungs == (1, 3)


def test_the_docs_benchmark_winner_is_a_valid_setting():
    import re

    readme = (retrain.REPO / "docs" / "nas.md").read_text()
    [raw] = re.findall(r"`(\{\"strategy\": \"random\".*?\})`", readme, re.S)
    s = retrain.Settings.from_json(raw.replace("\n", " "))
    cfg = SearchConfig.from_dict(s.search_config())
    assert cfg.surrogate and cfg.successive_halving and cfg.compute_budget == 80000
    assert (cfg.strategy, cfg.max_trials) == ("random", 1000)
