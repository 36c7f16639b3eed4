"""What the pipeline tests share: a compiled pipeline's settings with every store under the
test's folder, and Transform's analysis and transform of rows written the way Transform writes
them (the serving signature parses the same tf.Examples)."""

from __future__ import annotations

from pipelines.settings import Settings


def settings(tmp_path, data, **kw) -> Settings:
    """Validated settings for `data`, ML Metadata, MLflow and the pipeline root under
    `tmp_path`; `kw` the test's own."""
    return Settings(
        data=str(data),
        pipeline_root=str(tmp_path / "root"),
        metadata_path=str(tmp_path / "m.sqlite"),
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        **kw,
    ).validated()


def analyze(tmp_path, spec: dict, instances: list[dict], fn):
    """Transform's analysis of `instances` (TFT's instance dicts, every key of `spec`) with the
    preprocessing `fn`, written as Transform writes it; the TFTransformOutput."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    out = str(tmp_path / "transform")
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp")), beam.Pipeline() as p:
        raw = p | beam.Create(instances, reshuffle=False)
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    metadata_io.write_metadata(metadata, f"{out}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return tft.TFTransformOutput(out)


def transform(tft_out, examples: list[bytes]) -> dict:
    """Serialized tf.Examples through the transform graph, parsed as the serving signature
    parses them: {feature: numpy array}."""
    import tensorflow as tf

    raw = tf.io.parse_example(examples, tft_out.raw_feature_spec())
    return {k: v.numpy() for k, v in tft_out.transform_raw_features(raw).items()}
