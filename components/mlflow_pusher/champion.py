"""Resolver strategy: the Evaluator's baseline is the registry's current @champion.

Each registered version carries the id of its ML Metadata Model artifact (a tag), so the
champion maps back to the artifact TFMA needs (the TFX model, not the pyfunc). With no champion
(first run) the baseline is empty and only the absolute thresholds apply.
"""

from __future__ import annotations

import logging

from tfx.dsl.components.common import resolver

from components.mlflow_pusher import registry
from core import names, tracking

log = logging.getLogger(__name__)


class ChampionModelStrategy(resolver.ResolverStrategy):
    """The ML Metadata Model artifact of `registered_model_name`@champion (none before one)."""

    def __init__(self, registered_model_name: str, tracking_uri: str):
        self._name = registered_model_name
        self._tracking_uri = tracking_uri

    def resolve_artifacts(self, store, input_dict):
        models = input_dict.get("model", [])
        champion = registry.version_by_alias(
            tracking.client(self._tracking_uri), self._name, names.CHAMPION
        )
        if champion is None:
            log.info("no %s@%s yet: evaluating without a baseline", self._name, names.CHAMPION)
            return {"model": []}
        wanted = champion.tags.get(names.TAG_MODEL_ARTIFACT_ID)
        match = [m for m in models if str(m.id) == wanted]
        if not match:
            log.warning(
                "%s@%s is version %s, whose ML Metadata model artifact %s is not in this "
                "store; evaluating without a baseline",
                self._name,
                names.CHAMPION,
                champion.version,
                wanted,
            )
            return {"model": []}
        log.info(
            "baseline: %s@%s = version %s (model artifact %s)",
            self._name,
            names.CHAMPION,
            champion.version,
            wanted,
        )
        return {"model": match}
