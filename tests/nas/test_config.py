"""The pipeline's settings and the NAS engine agree on names and on the search config."""

from __future__ import annotations

import json

from components.nas.config import SearchConfig
from components.nas.spaces import SPACES
from components.nas.strategies import STRATEGIES
from pipelines import retrain


def test_pipeline_names_match_the_engine():
    assert sorted(retrain.SPACES) == sorted(SPACES)
    assert sorted(retrain.STRATEGIES) == sorted(STRATEGIES)


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
                "nas": {"patience": 4, "max_params": 50000, "surrogate": True},
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
    assert cfg.estimation.fidelity.width == 0.5 and cfg.estimation.morph
    assert not cfg.estimation.curve and cfg.surrogate
    assert cfg.estimation.halving and cfg.estimation.halving_rungs == (1, 3)
