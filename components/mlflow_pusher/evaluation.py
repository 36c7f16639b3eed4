"""Reading the Evaluator's output (TFMA metrics and validation result). Imports TFMA lazily and
nothing from TFX, so `pipelines/summary.py` can use it too."""

from __future__ import annotations


def evaluation_metrics(eval_uri: str) -> dict[str, float]:
    """Overall-slice metrics: the candidate's by name, its change vs. the baseline as *_diff."""
    import tensorflow_model_analysis as tfma

    metrics = {}
    for per_slice in tfma.load_metrics(eval_uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for kv in per_slice.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            key = kv.key
            if key.model_name == "baseline":
                name = f"baseline_{key.name}"
            else:
                name = f"{key.name}_diff" if key.is_diff else key.name
            metrics[name] = kv.value.double_value.value
    return metrics


def not_blessed_reason(eval_uri: str) -> str:
    """'<metric> = <value> missed <threshold>' for each failed threshold, on one line."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format

    result = tfma.load_validation_result(eval_uri)
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"{key.name} change vs. baseline" if key.is_diff else key.name
            value = failure.metric_value.double_value.value
            threshold = text_format.MessageToString(failure.metric_threshold, as_one_line=True)
            reasons.append(f"{what} = {value:.4f} missed threshold {{{threshold}}}")
    if result.validation_ok and not reasons:
        return "the Evaluator did not bless the model (no failed threshold recorded)"
    return "; ".join(reasons) or "validation failed: " + text_format.MessageToString(
        result, as_one_line=True
    )


def gate_metrics(decision: dict) -> dict[str, float]:
    """The gate's table as MLflow metrics: every metric of the model's family on the test rows,
    the trivial baseline's (`trivial_*`) and @champion's (`champion_*`) beside it, the bounds of
    the differences' intervals, and the row count."""
    import math

    out = {k: v for k, v in (decision.get("metrics") or {}).items() if _finite(v)}
    for who in ("vs_trivial", "vs_champion"):
        bounds = decision.get(who) or ()
        for side, value in zip(("low", "high"), bounds, strict=False):
            if _finite(value):
                out[f"gate_{who}_{side}"] = value
    if decision.get("rows") is not None:
        out["test_rows"] = float(decision["rows"])
    return {k: float(v) for k, v in out.items() if not math.isnan(float(v))}


def gate_tags(decision: dict) -> dict[str, str]:
    """The gate's evidence as a registered version's tags (core/names.py TAG_GATE_*)."""
    from core import names

    if not decision:
        return {}

    def text(value) -> str:
        return "" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))

    low, high = decision.get("vs_champion") or (None, None)
    return {
        names.TAG_GATE_METRIC: text(decision.get("metric")),
        names.TAG_GATE_VALUE: text(decision.get("value")),
        names.TAG_GATE_TRIVIAL: text(decision.get("trivial")),
        names.TAG_GATE_CHAMPION: text(decision.get("champion")),
        names.TAG_GATE_DIFF_LOW: text(low),
        names.TAG_GATE_DIFF_HIGH: text(high),
        names.TAG_GATE_ROWS: text(decision.get("rows")),
        names.TAG_GATE_DECISION: text(decision.get("state")),
        names.TAG_GATE_REASON: text(decision.get("reason"))[:4000],
    }


def training_metrics(record: dict) -> dict[str, float]:
    """What the Trainer did, as MLflow metrics: the best epoch (the registered weights'), the
    epochs planned (the time budget's, pipelines/trainer_budget.py) and run, rows and steps per
    epoch, the batch size and the decision threshold."""
    out = {}
    keys = ("best_epoch", "epochs_planned", "epochs_run", "batch_size", "threshold")
    for key in (*keys, "train_rows"):
        if _finite(record.get(key)):
            out[f"trainer_{key}"] = float(record[key])
    rows = record.get("rows_per_epoch") or []
    if rows:
        out["trainer_rows_per_epoch_min"] = float(min(rows))
    return out


def _finite(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
