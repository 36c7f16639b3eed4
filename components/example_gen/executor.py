"""ExampleGen executors that clean and split rows (see the package's docstring): the stock CSV
and TFRecord executors and a Parquet one (core/parquet.py), as the node's custom_config says
(CONFIG_KEYS, from pipelines/data_checks.py):

- `missing_columns`, `missing_tokens` (CSV): those columns' cells holding a token are empty
  before the column types are inferred, so the column stays numeric with missing values;
- `label`: rows without a value in it are left out (neither trained nor evaluated on);
- `split_column`: rows go to the split the column names instead of the hash split. A value
  that is not a split's name fails the node with one line naming the value, the column and
  the split names (a permanent failure: ValueError);
- `notes`: the lines that say what was found (unlabelled rows, missing-value tokens, ID-like
  columns), logged again here, so the node's own log holds them.
"""

from __future__ import annotations

import json
import math
import os

import apache_beam as beam
from absl import logging
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils, proto_utils

CONFIG_KEYS = ("split_column", "label", "missing_columns", "missing_tokens", "notes")


def _example(record):
    import tensorflow as tf

    return tf.train.Example.FromString(record) if isinstance(record, bytes) else record


def split_of(record, column: str, names: list[str]) -> int:
    """The index in `names` of the split a row's `column` names."""
    feature = _example(record).features.feature.get(column)
    kind = feature.WhichOneof("kind") if feature is not None else None
    values = list(getattr(feature, kind).value) if kind else []
    value = values[0].decode("utf-8", "replace") if values and kind == "bytes_list" else None
    value = value if value is not None else (str(values[0]) if values else "")
    value = value.strip().lower()
    if value not in names:
        raise ValueError(
            f"split_column {column!r} holds {value or 'nothing'!r} in a row; each row's value must "
            f"be one of {names}"
        )
    return names.index(value)


def without(record, column: str):
    """The row without the split column, in the form it came (an Example, or its bytes)."""
    example = _example(record)
    out = type(example)()
    out.CopyFrom(example)
    del out.features.feature[column]
    return out.SerializeToString() if isinstance(record, bytes) else out


def config_of(exec_properties) -> dict:
    """The cleaning packed in the node's CustomConfig (a Struct): CONFIG_KEYS."""
    config = json.loads(exec_properties.get("custom_config") or "{}")
    return (config.get("custom_config") or {}).get("value") or {}


def split_column(exec_properties) -> str:
    """The `split_column` packed in the node's CustomConfig (a Struct), or ""."""
    return config_of(exec_properties).get("split_column", "")


def has_label(record, label: str) -> bool:
    """Whether a row holds a value in `label` (not empty text, not NaN)."""
    feature = _example(record).features.feature.get(label)
    kind = feature.WhichOneof("kind") if feature is not None else None
    values = list(getattr(feature, kind).value) if kind else []
    if not values:
        return False
    if kind == "bytes_list":
        return bool(values[0].strip())
    return not (kind == "float_list" and math.isnan(values[0]))


def blank(cells, indices: list[int], tokens: frozenset):
    """A parsed CSV row with the cells at `indices` that hold a missing-value token emptied."""
    out = list(cells)
    for i in indices:
        if i < len(out):
            cell = out[i]
            text = cell.decode("utf-8", "replace") if isinstance(cell, bytes) else str(cell)
            if text.strip().lower() in tokens:
                out[i] = b"" if isinstance(cell, bytes) else ""
    return out


@beam.ptransform_fn
def _Cleaned(pipeline, inner, exec_properties, split_pattern):  # noqa: N802 (Beam's style)
    """The stock reader's rows, without those that have no label when the config names it."""
    rows = pipeline | "Read" >> inner(exec_properties, split_pattern)
    label = config_of(exec_properties).get("label")
    return rows | "DropUnlabelled" >> beam.Filter(has_label, label) if label else rows


@beam.ptransform_fn
def _CsvToExample(pipeline, exec_properties, split_pattern):  # noqa: N802 (Beam's style)
    """TFX's CSV reader (csv_example_gen's _CsvToExample), with the config's missing-value
    tokens emptied in its `missing_columns` before the column types are inferred."""
    from tfx_bsl.coders import csv_decoder

    config = config_of(exec_properties)
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    files = fileio.glob(pattern)
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    names = io_utils.load_csv_column_names(files[0])
    indices = [names.index(c) for c in config.get("missing_columns", []) if c in names]
    tokens = frozenset(str(t).strip().lower() for t in config.get("missing_tokens", [""]))
    lines = (
        pipeline
        | "CreateFilenames" >> beam.Create(files)
        | "ReadFromText" >> beam.ParDo(csv_executor._ReadCsvRecordsFromTextFile())
        | "ParseCSVLine" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=","))
        | "ExtractParsedCSVLines" >> beam.Keys()
        | "MissingTokens" >> beam.Map(blank, indices, tokens)
    )
    infer = csv_decoder.ColumnTypeInferrer(names, skip_blank_lines=True)
    types = beam.pvalue.AsSingleton(lines | "InferColumnTypes" >> beam.CombineGlobally(infer))
    return lines | "ToTFExample" >> beam.ParDo(csv_executor._ParsedCsvToTfExample(), types)


def parquet_examples(path: str):
    """The tf.Examples of one Parquet file (core/parquet.py's features)."""
    import tensorflow as tf

    from core import parquet

    lists = {"int64": tf.train.Int64List, "float": tf.train.FloatList, "bytes": tf.train.BytesList}
    for row in parquet.examples(path):
        feature = {
            name: tf.train.Feature(**{f"{kind}_list": lists[kind](value=values)})
            for name, (kind, values) in row.items()
            if values
        }
        yield tf.train.Example(features=tf.train.Features(feature=feature))


@beam.ptransform_fn
def _ParquetToExample(pipeline, exec_properties, split_pattern):  # noqa: N802 (Beam's style)
    """Every row of the Parquet files `split_pattern` matches, as a tf.Example."""
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    files = sorted(fileio.glob(pattern))
    if not files:
        raise ValueError(f"no Parquet files match {pattern}")
    return pipeline | "CreateFilenames" >> beam.Create(files) | beam.FlatMap(parquet_examples)


class SplitColumnMixin:
    """Reads with the cleaning of the custom_config (see the module's docstring), and splits
    by its `split_column` when it names one (else the stock split)."""

    def GetInputSourceToExamplePTransform(self):  # noqa: N802 (TFX's name)
        inner = self.reader()

        def read(exec_properties, pattern):
            for note in config_of(exec_properties).get("notes", []):
                logging.warning("%s", note)
            return _Cleaned(inner, exec_properties, pattern)

        return read

    def reader(self):
        """The PTransform that reads the files as rows (the stock one)."""
        return super().GetInputSourceToExamplePTransform()

    def GenerateExamplesByBeam(self, pipeline, exec_properties):
        column = split_column(exec_properties)
        if not column:
            return super().GenerateExamplesByBeam(pipeline, exec_properties)
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        exec_properties["_beam_pipeline_args"] = self._beam_pipeline_args or []
        names = [s.name for s in output_config.split_config.splits]
        to_record = self.GetInputSourceToExamplePTransform()
        parts = (
            pipeline
            | "InputToRecord" >> to_record(exec_properties, input_config.splits[0].pattern)
            | "SplitByColumn" >> beam.Partition(lambda r, n: split_of(r, column, names), len(names))
        )
        return {
            name: parts[i] | f"DropSplitColumn[{name}]" >> beam.Map(without, column)
            for i, name in enumerate(names)
        }


class CsvExecutor(SplitColumnMixin, csv_executor.Executor):
    """CSV files, cleaned, split by a column."""

    def reader(self):
        return _CsvToExample


class ImportExecutor(SplitColumnMixin, import_executor.Executor):
    """TFRecord files, cleaned, split by a column."""


class ParquetExecutor(SplitColumnMixin, base_example_gen_executor.BaseExampleGenExecutor):
    """Parquet files, cleaned, split by a column."""

    def reader(self):
        return _ParquetToExample
