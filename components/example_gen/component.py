"""The ExampleGen node when the stock one will not do: TFX's FileBasedExampleGen with this
package's executor (CSV, Parquet or TFRecord) and what it must do in its custom_config: split
rows by a column's values, leave out the rows without a label, read a numeric column's
missing-value tokens as missing (pipelines/data_checks.py decides)."""

from __future__ import annotations

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components.example_gen import executor

EXECUTORS = {
    "csv": executor.CsvExecutor,
    "parquet": executor.ParquetExecutor,
    "tfrecord": executor.ImportExecutor,
}


def cleaning_example_gen(
    kind: str, input_base: str, input_config, output_config, column: str, cleaning: dict
):
    """ExampleGen over `input_base`: rows go to the split `column` names (else the hash
    split), cleaned as `cleaning` says (executor.py's CONFIG_KEYS)."""
    from google.protobuf import any_pb2, json_format, struct_pb2
    from tfx.proto import example_gen_pb2

    packed = any_pb2.Any()
    config = struct_pb2.Struct()
    json_format.ParseDict({"split_column": column, **cleaning}, config)
    packed.Pack(config)
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        custom_config=example_gen_pb2.CustomConfig(custom_config=packed),
        custom_executor_spec=executor_spec.BeamExecutorSpec(EXECUTORS[kind]),
    )
