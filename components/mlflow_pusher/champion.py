"""Resolver strategy: the Evaluator's baseline (and the Tuner's champion) is the registry's
current @champion, when it was trained on the same label and input schema as this run.

Each registered version carries the id of its ML Metadata Model artifact (a tag), so the
champion maps back to the artifact TFMA needs (the TFX model, not the pyfunc). It also carries
its label and schema fingerprint (core/names.py, set by the pusher); the resolver runs before
Transform, so the pipeline passes it the run's label and the fingerprint of the data folder's
columns (`names.columns_fingerprint`). A champion of another label or schema is never handed
over: one line names both, and the run goes on as with no champion (a full search, the gate's
absolute thresholds only). A version registered before the tags existed is taken as matching.
With no champion (first run) the baseline is empty and only the absolute thresholds apply.
"""

from __future__ import annotations

import logging

from tfx.dsl.components.common import resolver

from core import names, registry, tracking

log = logging.getLogger(__name__)


class ChampionModelStrategy(resolver.ResolverStrategy):
    """The ML Metadata Model artifact of `registered_model_name`@champion, when it was trained
    on `label` and the schema `schema` (none before a champion, or when it was not); an empty
    `label` leaves the check out."""

    def __init__(
        self, registered_model_name: str, tracking_uri: str, label: str = "", schema: str = ""
    ):
        self._name = registered_model_name
        self._tracking_uri = tracking_uri
        self._label = label
        self._schema = schema

    def resolve_artifacts(self, store, input_dict):
        models = input_dict.get("model", [])
        champion = registry.version_by_alias(
            tracking.client(self._tracking_uri), self._name, names.CHAMPION
        )
        if champion is None:
            log.info("no %s@%s yet: evaluating without a baseline", self._name, names.CHAMPION)
            return {"model": []}
        usable, why = registry.schema_check(champion.tags, self._label, self._schema)
        if not usable:
            log.warning(
                "CHAMPION NOT USED: %s@%s (version %s) does not match this run: %s. No champion "
                "for this run: a full search, gated on the absolute thresholds only",
                self._name,
                names.CHAMPION,
                champion.version,
                why,
            )
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
            "baseline: %s@%s = version %s (model artifact %s; %s)",
            self._name,
            names.CHAMPION,
            champion.version,
            wanted,
            why,
        )
        return {"model": match}
