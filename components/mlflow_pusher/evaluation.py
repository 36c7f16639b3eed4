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
