"""What the served model takes, and how the pusher logs it.

- `model_inputs`: each raw feature column's kind ("int", "float", "bytes") and, for a tensor
  column, its shape: the pipeline's `feature_shapes` where given, else what the transform graph
  says (a fixed-length raw feature's shape, or the width of the column's transformed feature).
- `signature`: the pyfunc's MLflow signature. Column-based: a scalar number is `any` (pandas
  makes an int column float once it has a missing value, and MLflow refuses int <-> float in a
  typed column), text `string`, an encoded image `binary`, a number tensor `array` of `any`
  (a list or ndarray per cell, nested to its shape or flat; MLflow checks that the cell is a
  list or array, the pyfunc its length: `pyfunc_model.tensor_values`). MLflow's TensorSpec,
  which could check a length, cannot sit beside column specs in one schema, and takes neither
  nested lists nor missing cells in a DataFrame.
- `column_types`: each column's type as the data's schema has it, in MLflow's words (`long`,
  `double`, `string`, `binary`; a tensor column with its shape), logged with the model as its
  metadata (`input_columns` in the MLmodel file), since the enforced signature cannot say it:
  MLflow 3.17 refuses a pandas int64 column for a `double` column and a column with a missing
  value (float64 with NaN) for a `long` one, and both are raw rows the model serves.
- `log_pyfunc`: the pyfunc model (pyfunc_model.py) with the serving SavedModel inside.
- `schema_tags`: the label and the schema fingerprint (core/names.py) a version is tagged with,
  which the champion resolver compares with the current run's.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from core import names

REPO = Path(__file__).resolve().parents[2]
# The packages the pyfunc model imports, shipped inside it (MLflow's code_paths).
PYFUNC_CODE = ("components", "core", "nas")


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The raw feature columns a served model takes (the label left out), sorted by name."""

    features: dict[str, str]  # column -> "int" | "float" | "bytes"
    shapes: dict[str, list[int]]  # the tensor columns: [length], [height, width(, channels)]

    def sizes(self) -> dict[str, int]:
        """Column -> values per example (1 for a scalar)."""
        return {name: math.prod(self.shapes.get(name) or [1]) for name in self.features}

    def fingerprint(self) -> str:
        """core/names.py's `schema_fingerprint` of these columns."""
        return names.schema_fingerprint(self.sizes())


def model_inputs(tft_out, label: str, feature_shapes: dict | None = None) -> Inputs:
    """The raw inputs of the model behind a Transform output (a TFTransformOutput)."""
    import tensorflow as tf

    kinds = {tf.string: "bytes", tf.int64: "int"}
    raw = tft_out.raw_feature_spec()
    transformed = tft_out.transformed_feature_spec()
    declared = dict(feature_shapes or {})
    features, shapes = {}, {}
    for name, spec in sorted(raw.items()):
        if name == label:
            continue
        features[name] = kinds.get(spec.dtype, "float")
        shape = declared.get(name) or _found_shape(spec, transformed.get(names.xf(name)))
        if shape:
            shapes[name] = [int(d) for d in shape]
    return Inputs(features, shapes)


def _found_shape(raw_spec, transformed_spec) -> list[int]:
    """A tensor column's shape as the transform graph has it ([] for a scalar): a fixed-length
    raw feature's own shape, else its transformed feature's (the user module's `xf` output,
    flat) unless that is integer ids (a free-text column's words: the raw column is a string)."""
    import tensorflow as tf

    if getattr(transformed_spec, "dtype", None) == tf.int64:
        transformed_spec = None
    for spec in (raw_spec, transformed_spec):
        shape = [int(d) for d in getattr(spec, "shape", None) or []]
        if math.prod(shape or [1]) > 1:
            return shape
    return []


def signature(inputs: Inputs, task, classes: list):
    """The pyfunc's ModelSignature (see the module's docstring); every input column optional."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType, Array

    def column(name: str, kind: str):
        if name in inputs.shapes:
            kind_ = "binary" if kind == "bytes" else Array(AnyType())
        else:
            kind_ = "string" if kind == "bytes" else AnyType()
        return ColSpec(kind_, name, required=False)

    outputs = [ColSpec(kind, column_) for column_, kind in task.output_columns(classes)]
    return ModelSignature(
        inputs=Schema([column(name, kind) for name, kind in inputs.features.items()]),
        outputs=Schema(outputs),
    )


def column_types(inputs: Inputs) -> dict[str, dict]:
    """Column -> {"type": long | double | string | binary[, "shape": [...]]}, from the schema:
    an int feature is `long`, a float one `double`, text `string`, an encoded image `binary`;
    a tensor column (a signal, an image array or image) has its shape."""
    out = {}
    for name, kind in inputs.features.items():
        shape = inputs.shapes.get(name)
        word = {"int": "long", "float": "double"}.get(kind, "binary" if shape else "string")
        out[name] = {"type": word, **({"shape": list(shape)} if shape else {})}
    return out


def log_pyfunc(
    serving_dir: str, inputs: Inputs, classes: list, task, input_example=None, threshold=None
):
    """Logs the pyfunc model (artifact path "model") to the active MLflow run; its ModelInfo.
    `threshold`: a binary model's decision threshold, which the pyfunc applies."""
    import mlflow
    import tensorflow as tf

    config = {
        "features": inputs.features,
        "shapes": inputs.shapes,
        "classes": classes,
        "task": task.name,
        "threshold": threshold,
    }
    return mlflow.pyfunc.log_model(
        name="model",
        # models-from-code: a file MLflow runs on load, not a pickled instance
        python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts={"saved_model": serving_dir},
        code_paths=[str(REPO / package) for package in PYFUNC_CODE],
        model_config=config,
        signature=signature(inputs, task, classes),
        metadata={"input_columns": column_types(inputs)},
        input_example=input_example,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"tensorflow=={tf.__version__}",
            "pandas",
        ],
    )


def schema_tags(label: str, inputs: Inputs) -> dict[str, str]:
    """What a registered version was trained on: its label and schema fingerprint."""
    return {names.TAG_LABEL: label, names.TAG_SCHEMA: inputs.fingerprint()}
