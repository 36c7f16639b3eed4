"""Resolver strategy: the previous span is the last accepted data from the same data folder.

The DataValidator publishes its anomalies artifact only when it accepts the data, tagged with
the data folder and the ids of the statistics and schema it accepted. The latest such artifact
names this run's previous statistics (for drift) and reference schema.
"""

from __future__ import annotations

import logging

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

from components.data_validator.executor import DATA_SOURCE, SCHEMA_ID, STATISTICS_ID

log = logging.getLogger(__name__)


class PreviousSpanStrategy(resolver.ResolverStrategy):
    """The statistics and schema the DataValidator last accepted from `data_source`."""

    def __init__(self, data_source: str):
        self._source = data_source

    def _accepted(self, store):
        out = []
        for a in store.get_artifacts_by_type(standard_artifacts.ExampleAnomalies.TYPE_NAME):
            prop = a.custom_properties.get(DATA_SOURCE)
            if prop is None or prop.string_value != self._source:
                continue
            if a.state == metadata_store_pb2.Artifact.LIVE and SCHEMA_ID in a.custom_properties:
                out.append(a)
        return out

    def resolve_artifacts(self, store, input_dict):
        empty = {"statistics": [], "schema": []}
        accepted = self._accepted(store)
        if not accepted:
            log.info("no accepted data from %s yet: no previous span", self._source)
            return empty
        latest = max(accepted, key=lambda a: (a.create_time_since_epoch, a.id))
        wanted = {
            "statistics": latest.custom_properties[STATISTICS_ID].int_value,
            "schema": latest.custom_properties[SCHEMA_ID].int_value,
        }
        out = {
            "statistics": [a for a in input_dict["statistics"] if a.id == wanted.get("statistics")],
            "schema": [a for a in input_dict["schema"] if a.id == wanted.get("schema")],
        }
        log.info(
            "previous span of %s: statistics %s, schema %s (accepted: anomalies artifact %s)",
            self._source,
            [a.id for a in out["statistics"]],
            [a.id for a in out["schema"]],
            latest.id,
        )
        return out
