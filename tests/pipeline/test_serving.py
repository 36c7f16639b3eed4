"""Serving raw rows of every kind through the pusher's pyfunc, and the champion check.

A real serving model is built cheaply: the user module's preprocessing_fn through tf.Transform
(Beam, in memory) on a few rows with scalar, text, 1-D signal, image-array and PNG columns
under messy names; a small Keras 3 model trained on the transformed rows for a few steps,
exported with `pipelines.training.export_serving_model`, logged by the pusher's own code path
(`serving.log_pyfunc`) and loaded back with `mlflow.pyfunc.load_model`.
"""

from __future__ import annotations

import logging
import math
import random
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import names, registry, tasks, tfrecord, tracking
from tests import foreign

tf = pytest.importorskip("tensorflow")

LABEL = "target"
CLASSES = [0, 1, 2]
SHAPES = {"signal": [6], "pixels": [2, 2, 1], "photo": [2, 2, 3]}
KINDS = {
    "Alcohol %": "float",
    "ward.code": "bytes",
    "2nd reading": "int64",
    "signal": "float",
    "pixels": "int64",
    "photo": "bytes",
    LABEL: "int64",
}


def _examples(n: int = 48, seed: int = 0) -> list[dict]:
    """{column: (kind, values)} per row; the class sets the signal's frequency, the bright
    pixel and the photo; a few values missing."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        c = i % 3
        pixels = [30] * 4
        pixels[c] = 220
        picture = [[[40 * c, 20, 200 - 40 * c] for _ in range(2)] for _ in range(2)]
        row = {
            "Alcohol %": ("float", [12.0 + c + rng.gauss(0, 0.3)]),
            "ward.code": ("bytes", [rng.choice([b"A1", b"B2"])]),
            "2nd reading": ("int64", [rng.randrange(10)]),
            "signal": ("float", [math.sin((c + 1) * t) + rng.gauss(0, 0.1) for t in range(6)]),
            "pixels": ("int64", pixels),
            "photo": ("bytes", [foreign.png(picture)]),
            LABEL: ("int64", [c]),
        }
        rows.append(row)
    del rows[1]["Alcohol %"], rows[2]["signal"], rows[3]["photo"], rows[4]["ward.code"]
    return rows


def _analyze(tmp, rows: list[dict], config: dict):
    """Transform's analysis of `rows` through the user module's preprocessing_fn, written as
    Transform writes it; the TFTransformOutput."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from pipelines.user_module import model_module

    dtypes = {"float": tf.float32, "int64": tf.int64, "bytes": tf.string}
    spec = {k: tf.io.VarLenFeature(dtypes[kind]) for k, kind in KINDS.items()}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    instances = [{k: [] for k in spec} | {k: v for k, (_, v) in r.items()} for r in rows]
    out = str(tmp / "transform")
    with tft_beam.Context(temp_dir=str(tmp / "tft_tmp")), beam.Pipeline() as p:
        raw = p | beam.Create(instances, reshuffle=False)
        fn = (raw, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: model_module.preprocessing_fn(inputs, config)
        )
        _ = fn | tft_beam.WriteTransformFn(out)
    metadata_io.write_metadata(metadata, f"{out}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return tft.TFTransformOutput(out)


def _train_and_export(tft_out, rows: list[dict], export_dir: str):
    import keras
    import keras_tuner

    from pipelines import training

    serialized = [tfrecord.encode_example(r) for r in rows]
    raw = tf.io.parse_example(serialized, tft_out.raw_feature_spec())
    transformed = {k: v.numpy() for k, v in tft_out.transform_raw_features(raw).items()}
    y = transformed.pop(names.xf(LABEL))
    keras.utils.set_random_seed(0)
    spec = training.feature_spec(tft_out, LABEL)
    hp = keras_tuner.HyperParameters()
    model = training.build_model(hp, spec, len(CLASSES), tasks.CLASSIFICATION.engine)
    model.fit({k: transformed[k] for k in spec}, y, epochs=3, batch_size=16, verbose=0)
    output = tasks.CLASSIFICATION.serving_output
    training.export_serving_model(model, tft_out, LABEL, export_dir, output)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The logged and reloaded pyfunc, with what it was built from."""
    import mlflow

    from components.mlflow_pusher import insight, serving

    tmp = tmp_path_factory.mktemp("serving")
    rows = _examples()
    config = {
        "label": LABEL,
        **tasks.CLASSIFICATION.user_config(CLASSES),
        "feature_shapes": SHAPES,
        "categorical_features": [],
        "ignore": [],
        "hashed": [],
        "timestamp": [],
        "text": [],
    }
    tft_out = _analyze(tmp, rows, config)
    export_dir = str(tmp / "Format-Serving")
    _train_and_export(tft_out, rows, export_dir)

    # The test split as ExampleGen writes it (gzip TFRecords), for the pusher's example rows.
    examples = tmp / "examples"
    (examples / "Split-test").mkdir(parents=True)
    tfrecord.write(str(examples / "Split-test" / "data_tfrecord-00000.gz"), rows, gzipped=True)

    inputs = serving.model_inputs(tft_out, LABEL, SHAPES)
    classes = tasks.CLASSIFICATION.classes(tft_out, LABEL)
    data = insight.eval_rows(str(examples), inputs.features, LABEL, 12, inputs.shapes)
    previous = mlflow.get_tracking_uri()
    client = tracking.use(f"sqlite:///{tmp / 'mlflow.db'}")
    try:  # artifacts under tmp, not ./mlruns
        experiment = tracking.experiment_id(client, "serving", str(tmp / "mlartifacts"))
        with mlflow.start_run(experiment_id=experiment):
            info = serving.log_pyfunc(
                export_dir, inputs, classes, tasks.CLASSIFICATION, data.rows.head(5)
            )
        model = mlflow.pyfunc.load_model(info.model_uri)
        logged = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp / "logged"))
    finally:
        mlflow.set_tracking_uri(previous)
    saved = tf.saved_model.load(export_dir).signatures["serving_default"]
    return types.SimpleNamespace(
        model=model,
        rows=rows,
        data=data,
        inputs=inputs,
        classes=classes,
        tft_out=tft_out,
        saved=saved,
        logged=Path(logged),
    )


def test_the_model_is_logged_as_code_not_as_a_pickle(served):
    """Loading a registered model runs the repository's code (models-from-code), never an
    unpickled object (docs/security.md)."""
    files = {p.name for p in served.logged.rglob("*") if p.is_file()}
    assert "pyfunc_entry.py" in files, sorted(files)
    assert not [f for f in files if f.endswith(".pkl")], sorted(files)
    mlmodel = (served.logged / "MLmodel").read_text()
    assert "model_code_path" in mlmodel, mlmodel


def _raw_rows(rows: list[dict], arrays: bool) -> pd.DataFrame:
    """The rows as a user hands them to the pyfunc: tensors as lists (images nested to their
    shape), or as numpy arrays (the signal float32, the pixels nested uint8 and flat int)."""
    out = []
    for i, row in enumerate(rows):
        cells = {}
        for name in KINDS:
            if name == LABEL:
                continue
            _, values = row.get(name, ("", []))
            if not values:
                cells[name] = None
            elif name == "photo":
                cells[name] = values[0]
            elif name == "ward.code":
                cells[name] = values[0].decode()
            elif name == "signal":
                cells[name] = np.asarray(values, dtype=np.float32) if arrays else list(values)
            elif name == "pixels":
                nested = np.asarray(values).reshape(SHAPES["pixels"])
                if arrays:
                    cells[name] = nested.astype(np.uint8) if i % 2 else np.asarray(values)
                else:
                    cells[name] = nested.tolist()
            else:
                cells[name] = values[0]
        out.append(cells)
    frame = pd.DataFrame(out)
    if len(frame) > 5:
        frame.loc[5, "Alcohol %"] = np.nan  # a missing number, as pandas has it
    return frame


def _saved_model_classes(served, rows: list[dict]) -> list:
    raw = [{k: v for k, v in r.items() if k != LABEL} for r in rows]
    raw[5].pop("Alcohol %", None)
    output = served.saved(examples=tf.constant([tfrecord.encode_example(r) for r in raw]))
    probabilities = output[tasks.CLASSIFICATION.serving_output].numpy()
    return [served.classes[i] for i in probabilities.argmax(axis=1)]


def test_raw_rows_of_every_kind_as_lists_and_as_arrays(served):
    as_lists = served.model.predict(_raw_rows(served.rows, arrays=False))
    as_arrays = served.model.predict(_raw_rows(served.rows, arrays=True))
    per_class = [tasks.probability_column(c) for c in CLASSES]
    assert list(as_lists.columns) == ["class", "probability", *per_class]
    assert np.allclose(as_lists[per_class].sum(axis=1), 1.0, atol=1e-5)
    assert as_lists["class"].dtype.kind == "i" and set(as_lists["class"]) <= set(CLASSES)
    assert np.isfinite(as_lists["probability"]).all()
    pd.testing.assert_frame_equal(as_lists, as_arrays)
    # the same as the SavedModel on the rows' own tf.Examples (missing values absent)
    assert list(as_lists["class"]) == _saved_model_classes(served, served.rows)
    # the columns keep their own names; the image array's flat form is the same image
    assert set(served.inputs.features) == set(KINDS) - {LABEL}
    flat = _raw_rows(served.rows, arrays=False)
    flat["pixels"] = [None if v is None else np.ravel(v).tolist() for v in flat["pixels"]]
    pd.testing.assert_frame_equal(served.model.predict(flat), as_lists)


def test_raw_rows_read_from_a_data_folder_agree_with_its_own_examples(served, tmp_path):
    """check_pyfunc's --data rows (what the conformance check hands a champion): the pyfunc on
    the folder's rows, the SavedModel on the folder's own tf.Examples."""
    from tests.pipeline import check_pyfunc

    folder = tmp_path / "signals"
    tfrecord.write(str(folder / "part-0.tfrecord.gz"), served.rows[:20], gzipped=True)
    tfrecord.write(str(folder / "part-1.tfrecord.gz"), served.rows[20:], gzipped=True)
    (folder / "dataset.json").write_text('{"label": "target"}')
    rows, serialized, labels = check_pyfunc.data_rows(
        str(folder), LABEL, served.model.model_config, 10
    )
    assert len(rows) == len(serialized) == len(labels) == 10
    predicted = served.model.predict(rows)
    output = served.saved(examples=tf.constant(serialized))
    reference = tasks.CLASSIFICATION.pyfunc_frame(
        output[tasks.CLASSIFICATION.serving_output].numpy(), served.classes
    )
    assert predicted["class"].tolist() == reference["class"].tolist()


def test_the_signature_has_a_column_per_feature_with_array_and_binary_specs(served):
    columns = {c["name"]: c for c in served.model.metadata.get_input_schema().to_dict()}
    assert {k: c["type"] for k, c in columns.items()} == {
        "Alcohol %": "any",
        "2nd reading": "any",
        "ward.code": "string",
        "signal": "array",
        "pixels": "array",
        "photo": "binary",
    }
    assert not any(c["required"] for c in columns.values())
    assert served.inputs.shapes == SHAPES
    # The types the schema gives, with the model (the MLmodel file's metadata).
    assert served.model.metadata.metadata["input_columns"] == {
        "Alcohol %": {"type": "double"},
        "2nd reading": {"type": "long"},
        "ward.code": {"type": "string"},
        "signal": {"type": "double", "shape": [6]},
        "pixels": {"type": "long", "shape": [2, 2, 1]},
        "photo": {"type": "binary", "shape": [2, 2, 3]},
    }


def test_a_wrong_cell_is_refused_with_its_column_row_and_shape(served):
    from mlflow.exceptions import MlflowException

    rows = _raw_rows(served.rows[:3], arrays=False)
    rows.at[1, "signal"] = [0.5] * 5
    with pytest.raises(ValueError, match=r"row 1: column 'signal' takes a 1-D signal of 6"):
        served.model.predict(rows)
    rows = _raw_rows(served.rows[:3], arrays=False)
    rows.at[0, "pixels"] = [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match=r"'pixels' takes an image array of shape \[2, 2, 1\]"):
        served.model.predict(rows)
    rows = _raw_rows(served.rows[:3], arrays=False)
    rows.at[2, "signal"] = ["a"] * 6
    with pytest.raises(ValueError, match="'signal' takes numbers"):
        served.model.predict(rows)
    # a scalar where a signal goes: MLflow's signature refuses it before the model sees it; so
    # it does pandas's NaN there (a missing tensor is None or an empty list)
    rows = _raw_rows(served.rows[:3], arrays=False)
    rows["signal"] = [0.5, 0.5, 0.5]
    with pytest.raises(MlflowException, match="list or numpy array"):
        served.model.predict(rows)
    rows = _raw_rows(served.rows[:3], arrays=False)
    rows.at[1, "signal"] = np.nan
    with pytest.raises(MlflowException, match="list or numpy array"):
        served.model.predict(rows)
    rows.at[1, "signal"], rows.at[2, "signal"] = None, []
    assert len(served.model.predict(rows)) == 3


def test_eval_rows_keep_tensors_whole(served):
    first = served.data.rows.iloc[0]
    assert len(served.data.rows) == 12 and len(served.data.serialized) == 12
    assert isinstance(first["signal"], list) and len(first["signal"]) == 6
    assert first["pixels"] == [220, 30, 30, 30]
    assert first["photo"].startswith(b"\x89PNG")
    assert served.data.rows.iloc[2]["signal"] is None and served.data.rows.iloc[3]["photo"] is None
    assert math.isnan(served.data.rows.iloc[1]["Alcohol %"])
    assert served.data.labels[:4] == [0.0, 1.0, 2.0, 0.0]
    assert served.data.rows["ward.code"].iloc[0] in ("A1", "B2")


def test_the_pushers_fingerprint_is_the_one_the_resolver_computes(served, tmp_path):
    """The pusher (from the transform graph, with or without the pipeline's feature_shapes)
    and the resolver (from the data folder, before Transform) reach the same fingerprint."""
    from components.mlflow_pusher import serving
    from pipelines import task as data_task

    folder = tmp_path / "data"
    tfrecord.write(str(folder / "part.tfrecord"), served.rows)
    found = data_task.feature_config(str(folder), LABEL, {"pixels": [2, 2, 1]}, ())
    columns = sorted(KINDS)
    at_compile = names.columns_fingerprint(columns, LABEL, found["feature_shapes"])
    derived = serving.model_inputs(served.tft_out, LABEL)
    assert derived.shapes == {"signal": [6], "pixels": [4], "photo": [12]}
    assert served.inputs.fingerprint() == derived.fingerprint() == at_compile
    tags = serving.schema_tags(LABEL, served.inputs)
    assert tags == {names.TAG_LABEL: LABEL, names.TAG_SCHEMA: at_compile}
    longer = names.columns_fingerprint(columns, LABEL, {**found["feature_shapes"], "signal": [7]})
    assert longer != at_compile


def test_scalar_rows_keep_their_signature_and_examples():
    """A penguins-like model: numbers as `any`, text as `string`; NaN and None are absent."""
    from components.mlflow_pusher import pyfunc_model, serving

    kinds = {"bill_length_mm": "float", "body_mass_g": "int", "island": "bytes"}
    inputs = serving.Inputs(kinds, {})
    signature = serving.signature(inputs, tasks.CLASSIFICATION, ["Adelie", "Gentoo"])
    assert [(c["name"], c["type"]) for c in signature.inputs.to_dict()] == [
        ("bill_length_mm", "any"),
        ("body_mass_g", "any"),
        ("island", "string"),
    ]
    assert [(c["name"], c["type"]) for c in signature.outputs.to_dict()] == [
        ("class", "string"),
        ("probability", "double"),
        ("probability_Adelie", "double"),
        ("probability_Gentoo", "double"),
    ]
    row = {"bill_length_mm": float("nan"), "body_mass_g": 3750.0, "island": None}
    parsed = tfrecord.parse_example(pyfunc_model.example_bytes(row, inputs.features))
    assert parsed == {"body_mass_g": ("int64", [3750])}
    row = {"bill_length_mm": 39.5, "body_mass_g": None, "island": "Dream"}
    parsed = tfrecord.parse_example(pyfunc_model.example_bytes(row, inputs.features))
    assert parsed == {"bill_length_mm": ("float", [39.5]), "island": ("bytes", [b"Dream"])}
    # A missing-value token in a numeric column is missing there, as ExampleGen read it; in a
    # text column it is text.
    row = {"bill_length_mm": " n/a", "body_mass_g": "NA", "island": "NA"}
    parsed = tfrecord.parse_example(pyfunc_model.example_bytes(row, inputs.features))
    assert parsed == {"island": ("bytes", [b"NA"])}


# ---- the champion check --------------------------------------------------------------------

RUN = {"label": "species", "schema": "a1b2c3d4e5f60718"}


def _version(version: str, **tags):
    return types.SimpleNamespace(version=version, tags={names.TAG_MODEL_ARTIFACT_ID: "7", **tags})


@pytest.mark.parametrize(
    "tags, usable, said",
    [
        ({names.TAG_LABEL: "species", names.TAG_SCHEMA: RUN["schema"]}, True, "the same label"),
        ({names.TAG_LABEL: "island", names.TAG_SCHEMA: RUN["schema"]}, False, "label 'island'"),
        ({names.TAG_LABEL: "species", names.TAG_SCHEMA: "0" * 16}, False, "schema 0000"),
        ({}, True, "registered before them"),
    ],
    ids=["matching", "other label", "other schema", "untagged"],
)
def test_the_champion_is_handed_over_only_when_label_and_schema_match(
    tags, usable, said, monkeypatch, caplog
):
    from components.mlflow_pusher import champion

    monkeypatch.setattr(champion.tracking, "client", lambda uri: None)
    monkeypatch.setattr(
        champion.registry, "version_by_alias", lambda c, name, alias: _version("3", **tags)
    )
    strategy = champion.ChampionModelStrategy("clinic", "sqlite:///x.db", **RUN)
    models = [types.SimpleNamespace(id=6), types.SimpleNamespace(id=7)]
    with caplog.at_level(logging.INFO, logger=champion.__name__):
        resolved = strategy.resolve_artifacts(None, {"model": models})
    assert [m.id for m in resolved["model"]] == ([7] if usable else [])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and said in lines[0], lines
    if not usable:  # one line naming both: the champion's and this run's label and schema
        assert "clinic@champion (version 3)" in lines[0]
        assert "this run has label 'species', schema a1b2c3d4e5f60718" in lines[0]


def test_without_the_runs_label_the_champion_is_not_checked():
    tags = {names.TAG_LABEL: "island", names.TAG_SCHEMA: "0" * 16}
    assert registry.schema_check(tags, "", "")[0] is True
    # the label alone when the schema is not known
    assert registry.schema_check(tags, "island", "")[0] is True
    assert registry.schema_check(tags, "species", "")[0] is False


def test_the_pusher_leaves_another_schemas_champion_in_place(caplog):
    """A blessed model that was not compared with the champion (another label or schema) is
    registered as @challenger only; the line says why and how to move @champion by hand."""
    from components.mlflow_pusher import executor

    class Client:
        aliases: dict = {}

        def get_model_version_by_alias(self, name, alias):
            return _version("3", **{names.TAG_LABEL: "island", names.TAG_SCHEMA: "0" * 16})

        def set_registered_model_alias(self, name, alias, version):
            self.aliases[alias] = version

    mine = _version("4", **{names.TAG_LABEL: "species", names.TAG_SCHEMA: RUN["schema"]})
    client = Client()
    with caplog.at_level(logging.INFO):
        better = {"state": "champion", "reason": "better than the prior", "champion_model_id": None}
        state = executor.Executor()._promote(client, "clinic", mine, better, "auto")
    assert state == "challenger" and client.aliases == {}
    line = next(r.getMessage() for r in caplog.records if "stays on version 3" in r.getMessage())
    assert "trained on label 'island'" in line and "set @champion by hand" in line
