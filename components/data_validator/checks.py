"""What counts as bad data, as pure functions over TFDV's protos (no TFX, no Beam).

Three sources of problems, all reported the same way, one per column and kind:
- intrinsic checks that need no reference: no examples, the label missing, a column whose
  values are all missing or all NaN;
- TFDV's anomalies against the reference schema (columns dropped, types changed, values outside
  a categorical domain, ...);
- drift against the previous span's statistics, past a threshold per column: L-infinity
  distance for categorical columns, Jensen-Shannon divergence for numeric ones.

A problem can be accepted by an `allow` entry: "column", "column:KIND" or "*:KIND", where KIND is
TFDV's anomaly type name (e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES) or one of ours below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from core import splits

DATASET = "(dataset)"
NO_EXAMPLES = "NO_EXAMPLES"
LABEL_MISSING = "LABEL_MISSING"
ALL_VALUES_MISSING = "ALL_VALUES_MISSING"
ALL_VALUES_NAN = "ALL_VALUES_NAN"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem of one column in one split; `kind` is TFDV's anomaly type name or one of
    this module's (NO_EXAMPLES, LABEL_MISSING, ...)."""

    column: str
    kind: str
    description: str
    split: str = ""

    def line(self) -> str:
        where = f" (split {self.split})" if self.split else ""
        return f"column {self.column}: {self.kind}: {self.description}{where}"


def allowed(problem: Problem, allow: Iterable[str]) -> bool:
    for entry in allow:
        column, _, kind = entry.partition(":")
        if column in ("*", problem.column) and kind in ("", "*", problem.kind):
            return True
    return False


def check_allow_entries(allow: Iterable[str]) -> list[str]:
    """Entries that cannot match anything: an empty column, or '*' alone (accepts everything)."""
    bad = []
    for entry in allow:
        column, _, kind = entry.partition(":")
        if not column or (column == "*" and kind in ("", "*")):
            bad.append(entry)
    return bad


def _name(feature) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def intrinsic(dataset, label: str, split: str = "") -> list[Problem]:
    """Problems that need no reference: `dataset` is one DatasetFeatureStatistics."""
    if dataset.num_examples == 0:
        return [Problem(DATASET, NO_EXAMPLES, "no examples: empty files, or a header only", split)]
    problems = []
    names = {_name(f) for f in dataset.features}
    if label and label not in names:
        problems.append(Problem(label, LABEL_MISSING, "the label column is not in the data", split))
    for f in dataset.features:
        kind = f.WhichOneof("stats")
        common = getattr(f, kind).common_stats if kind else None
        if common is None:
            continue
        if common.num_non_missing == 0 or common.tot_num_values == 0:
            problems.append(Problem(_name(f), ALL_VALUES_MISSING, "every value is missing", split))
        elif kind == "num_stats" and f.num_stats.histograms:
            nan = f.num_stats.histograms[0].num_nan
            if nan and nan >= common.tot_num_values:
                problems.append(Problem(_name(f), ALL_VALUES_NAN, "every value is NaN", split))
    return problems


def with_drift(schema, thresholds: dict[str, float]):
    """A copy of `schema` with drift comparators: thresholds maps column (or "*") to a limit."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        limit = thresholds.get(feature.name, thresholds.get("*"))
        if not limit:
            continue
        categorical = feature.type == schema_pb2.BYTES or feature.HasField("domain")
        if categorical:
            feature.drift_comparator.infinity_norm.threshold = float(limit)
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = float(limit)
    return out


def from_anomalies(anomalies, split: str = "") -> list[Problem]:
    """TFDV's Anomalies proto as problems, one per reason."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kind = anomalies_pb2.AnomalyInfo.Type.Name
    problems = []
    infos = [(c, i) for c, i in anomalies.anomaly_info.items()]
    if anomalies.HasField("dataset_anomaly_info"):
        infos.append((DATASET, anomalies.dataset_anomaly_info))
    for column, info in sorted(infos, key=lambda x: x[0]):
        if not info.reason:
            problems.append(Problem(column, "ANOMALY", info.description, split))
        for reason in info.reason:
            text = reason.description or reason.short_description
            problems.append(Problem(column, kind(reason.type), text, split))
    return problems


def loosened(schema):
    """A copy of an inferred schema without the constraints a sample cannot establish: that
    every example has a value, and the fraction of examples that have the column. Inferred from
    data without a gap, they would fail the next span on its first missing value. The column
    must still be there (presence.min_count), with its type and categorical domain."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        feature.ClearField("value_count")
        feature.presence.ClearField("min_fraction")
    return out


def validate(
    dataset_list,
    schema,
    label: str,
    previous=None,
    drift: dict[str, float] | None = None,
    split: str = "",
) -> tuple[list[Problem], object]:
    """All problems of one split's statistics (a DatasetFeatureStatisticsList), and TFDV's
    Anomalies proto they partly come from (empty when there are no examples)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    [dataset] = dataset_list.datasets
    problems = intrinsic(dataset, label, split)
    if dataset.num_examples == 0:
        return problems, anomalies_pb2.Anomalies()
    if split and split != splits.TRAIN:
        # A small validation or test split can miss a sparse column's values, or drift by
        # chance; what the model learns from is the training split.
        problems = [p for p in problems if p.kind not in (ALL_VALUES_MISSING, ALL_VALUES_NAN)]
        drift = None
    if previous is not None and drift:
        schema = with_drift(schema, drift)
    else:
        previous = None
    anomalies = tfdv.validate_statistics(dataset_list, schema, previous_statistics=previous)
    seen = {(p.column, p.kind) for p in problems}
    problems += [p for p in from_anomalies(anomalies, split) if (p.column, p.kind) not in seen]
    return problems, anomalies
