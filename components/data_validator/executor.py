"""DataValidator executor: validate every split, log one line per problem, fail on any.

Each problem is logged as `DATA ANOMALY: column C: KIND: description (split S)`; accepted ones
as `DATA ANOMALY ACCEPTED: ...`. Anomalies, drift included, are written as TFDV's SchemaDiffs.pb
per split, like ExampleValidator's. When a problem is left, the node fails with one line
listing them all, so the run stops here: nothing is transformed, trained or registered. Only
accepted data publishes its anomalies artifact, which marks it as the next run's previous span.
"""

from __future__ import annotations

import json
import os

from absl import logging
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data_validator import checks, profile
from core import names, tracking

DATA_SOURCE = "data_source"
# The accepted statistics and schema, by ML Metadata id. Not read back from the execution's
# input events: when one artifact is two inputs (the same statistics as current and previous,
# on a cached rerun), ML Metadata keeps a single event, under one of the two names.
STATISTICS_ID = "statistics_artifact_id"
SCHEMA_ID = "schema_artifact_id"


class DataValidationError(RuntimeError):
    """The data is not fit to train on."""


def _single(input_dict, key):
    items = input_dict.get(key) or []
    return artifact_utils.get_single_instance(items) if items else None


def _stats(artifact, split):
    import tensorflow_data_validation as tfdv

    if artifact is None:
        return None
    if split not in artifact_utils.decode_split_names(artifact.split_names):
        return None
    uri = artifact_utils.get_split_uri([artifact], split)
    return tfdv.load_stats_binary(io_utils.get_only_uri_in_dir(uri))


def _schema(artifact):
    import tensorflow_data_validation as tfdv

    return tfdv.load_schema_text(io_utils.get_only_uri_in_dir(artifact.uri))


class Executor(base_executor.BaseExecutor):
    """Validates the run's statistics (see the module's docstring)."""

    def Do(self, input_dict, output_dict, exec_properties):
        stats = _single(input_dict, "statistics")
        previous_stats = _single(input_dict, "previous_statistics")
        previous_schema = _single(input_dict, "previous_schema")
        curated = bool(exec_properties.get("curated_schema"))
        schema = _single(input_dict, "schema")
        reference = _schema(schema if curated or previous_schema is None else previous_schema)
        if not curated:
            reference = checks.loosened(reference)
        label = exec_properties["label"]
        drift = json.loads(exec_properties.get("drift") or "{}")
        allow = json.loads(exec_properties.get("allow") or "[]")
        source = exec_properties["data_source"]
        if curated:
            against = "the curated schema"
        elif previous_schema is not None:
            against = "the schema of the last accepted data"
        else:
            against = f"this data's inferred schema (first run on {source})"
        drift_on = previous_stats is not None and any(drift.values())
        logging.info(
            "validating against %s; drift against the previous span: %s",
            against,
            f"on {drift}" if drift_on else "off",
        )

        anomalies = _single(output_dict, "anomalies")
        splits = artifact_utils.decode_split_names(stats.split_names)
        anomalies.split_names = artifact_utils.encode_split_names(splits)
        problems, current_by_split, previous_by_split = [], {}, {}
        for split in splits:
            current = _stats(stats, split)
            previous = _stats(previous_stats, split)
            current_by_split[split], previous_by_split[split] = current, previous
            found, diffs = checks.validate(current, reference, label, previous, drift, split)
            out = os.path.join(artifact_utils.get_split_uri([anomalies], split), "SchemaDiffs.pb")
            io_utils.write_bytes_file(out, diffs.SerializeToString())
            problems += found

        failing, accepted = [], []
        for p in problems:
            if checks.allowed(p, allow):
                logging.warning("DATA ANOMALY ACCEPTED: %s", p.line())
                accepted.append(p)
            else:
                logging.error("DATA ANOMALY: %s", p.line())
                failing.append(p)
        if exec_properties["profile"]:
            page, png = profile.render(
                current_by_split, previous_by_split, failing, accepted, source, against
            )
            # Beside the anomalies (kept when the data is accepted; TFX removes a failed node's
            # outputs) and in MLflow (kept either way).
            io_utils.write_string_file(os.path.join(anomalies.uri, profile.PAGE), page)
            self._log_profile(exec_properties, page, png, failed=bool(failing))
        if failing:
            first = {}  # one entry per column and kind, whichever split showed it first
            for p in failing:
                first.setdefault((p.column, p.kind), p)
            raise DataValidationError(
                f"data validation failed for {source}: "
                + "; ".join(p.line() for p in first.values())
                + ". Nothing was trained or registered. To accept a known anomaly, add it to "
                "the allowed_anomalies setting (docs/your-data.md: Data validation)."
            )
        anomalies.set_string_custom_property(DATA_SOURCE, source)
        anomalies.set_int_custom_property(STATISTICS_ID, stats.id)
        anomalies.set_int_custom_property(SCHEMA_ID, schema.id)
        logging.info(
            "data accepted: %d split(s), %d accepted anomalies", len(splits), len(problems)
        )

    def _log_profile(self, exec_properties, page: str, png: bytes, failed: bool) -> None:
        """One MLflow run per validation in the data experiment, holding profile.html and
        profile.png; the log names where to open it. MLflow trouble is a warning: the profile
        is about the data, not a gate."""
        uri = exec_properties.get("tracking_uri") or ""
        if not uri:
            return
        run_id = getattr(self._context, "pipeline_run_id", None) or "unknown"
        try:
            import tempfile

            location = exec_properties.get("artifact_location") or ""
            tracking.prepare_store(uri, location)
            client = tracking.client(uri)
            experiment = tracking.experiment_id(client, exec_properties["experiment"], location)
            verdict = "rejected" if failed else "accepted"
            # A retried validation of the same pipeline run replaces its profile.
            earlier = client.search_runs(
                [experiment], tracking.tag_equals(names.TAG_PIPELINE_RUN, run_id), max_results=1
            )
            if earlier:
                run = earlier[0]
                client.set_tag(run.info.run_id, names.TAG_DATA_VERDICT, verdict)
            else:
                run = client.create_run(
                    experiment,
                    run_name=run_id,
                    tags={names.TAG_PIPELINE_RUN: run_id, names.TAG_DATA_VERDICT: verdict},
                )
            with tempfile.TemporaryDirectory() as tmp:
                with open(os.path.join(tmp, profile.PAGE), "w") as f:
                    f.write(page)
                with open(os.path.join(tmp, profile.PICTURE), "wb") as f:
                    f.write(png)
                client.log_artifacts(run.info.run_id, tmp)
            client.set_terminated(run.info.run_id, "FAILED" if failed else "FINISHED")
            where = run.info.artifact_uri + "/" + profile.PAGE
            if uri.startswith("http"):
                where = (
                    f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{run.info.run_id}"
                    f"/artifacts/{profile.PAGE}"
                )
            logging.info("DATA PROFILE: %s (MLflow run %s)", where, run.info.run_id)
        except Exception as e:  # noqa: BLE001  (reported; validation decides, not MLflow)
            logging.warning("DATA PROFILE not logged to MLflow (%s): %s", uri, e)
