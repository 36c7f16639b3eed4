"""Every label type and feature kind a user's data has: what the pipeline reads from the data
where it compiles (pipelines/task.py, without TensorFlow), what it compiles, and what Transform
makes of it (tf.Transform on Beam, in memory, through the user module's preprocessing_fn)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from core import names, tasks, tfrecord
from pipelines import task as data
from tests import foreign
from tests.commands import last_json
from tests.pipeline import local

# ---- what the data says, without TensorFlow ---------------------------------------------------


def test_classes_keep_their_type_in_a_stable_sorted_order(tmp_path):
    wine = foreign.wine_like_csv(tmp_path / "wine").parent
    assert data.classes(str(wine), "target") == ([0, 1, 2], data.classes(str(wine), "target")[1])
    clinic = foreign.clinic_csv(tmp_path / "clinic").parent
    assert data.classes(str(clinic), "readmitted")[0] == [False, True]
    images = foreign.images_tfrecords(tmp_path / "images")
    assert data.classes(str(images), "label")[0] == ["bar", "column", "diagonal"]
    # text lexicographically, numbers numerically, whatever the order or frequency of the rows
    assert data.sorted_classes(["Gentoo", "Adelie", "Chinstrap", "Adelie"]) == [
        "Adelie",
        "Chinstrap",
        "Gentoo",
    ]
    assert data.sorted_classes([10, 2, 1]) == [1, 2, 10]
    assert data.sorted_classes([2.5, 0.5, 1.5]) == [0.5, 1.5, 2.5]
    assert data.sorted_classes(["TRUE", "false"]) == [False, True]
    assert data.classes(str(wine), "target", declared=(2, 0, 1, 3))[0] == [0, 1, 2, 3]
    for bad in ([1, "a"], [""], ["two\nlines"]):
        with pytest.raises(data.DataError):
            data.sorted_classes(bad)
    # a float label with few values keeps its floats (a TFRecord's float32 read back short)
    few = tmp_path / "few"
    rows = [{"x": ("float", [i]), "y": ("float", [0.1 * (i % 3)])} for i in range(9)]
    foreign.tfrecord.write(str(few / "part.tfrecord"), rows)
    assert data.classes(str(few), "y")[0] == [0.0, 0.1, 0.2]


def test_plain_and_gzip_tfrecords_are_read_without_tensorflow(tmp_path):
    """Task inference reads TFRecords with core/tfrecord.py: plain files are not opened as gzip,
    and TensorFlow is never imported (a warm executor's parent forks nodes afterwards)."""
    plain = foreign.signals_tfrecords(tmp_path / "plain", gzipped=False)
    gzipped = foreign.signals_tfrecords(tmp_path / "gzip", gzipped=True)
    script = (
        "import json, sys\n"
        "from pipelines import task\n"
        f"out = [task.resolve('auto', d, 'label') for d in {[str(plain), str(gzipped)]!r}]\n"
        f"out.append(task.classes({str(plain)!r}, 'label')[0])\n"
        f"out.append(task.feature_config({str(plain)!r}, 'label', {{}}, ())['feature_shapes'])\n"
        "print(json.dumps({'out': out, 'tf': 'tensorflow' in sys.modules}))\n"
    )
    result = last_json([sys.executable, "-c", script], timeout=120)
    assert result["tf"] is False
    (task1, why1), (task2, _), found, shapes = result["out"]
    assert task1 == task2 == "classification" and "3 distinct whole numbers" in why1, why1
    assert found == [0, 1, 2] and shapes == {"signal": [40]}


def test_only_data_files_are_data(tmp_path):
    folder = foreign.signals_tfrecords(tmp_path / "signals", files=3)
    (folder / "README.md").write_text("my signals")
    files = data.data_files(str(folder))
    assert (files.kind, files.pattern, len(files.files)) == ("tfrecord", "*.tfrecord.gz", 3)
    # files without an extension: their common prefix
    bare = tmp_path / "bare"
    foreign.signals_tfrecords(bare, gzipped=False, files=1)
    (bare / "data-00000-of-00001.tfrecord").rename(bare / "part-0")
    foreign.tfrecord.write(str(bare / "part-1"), [{"label": ("int64", [1])}])
    assert data.data_files(str(bare)).pattern == "part-*"
    # nothing tells them apart: the message names the folder and what to rename
    (bare / "part-1").rename(bare / "records")
    with pytest.raises(data.DataError, match="common suffix such as .tfrecord"):
        data.data_files(str(bare))
    # ImportExampleGen picks the compression from the name
    wrong = foreign.signals_tfrecords(tmp_path / "wrong", gzipped=True, files=1)
    (wrong / "data-00000-of-00001.tfrecord.gz").rename(wrong / "data.tfrecord")
    with pytest.raises(data.DataError, match="rename it to data.tfrecord.gz"):
        data.data_files(str(wrong))
    csv = foreign.wine_like_csv(tmp_path / "wine").parent
    (csv / "dataset.json").write_text('{"label": "target"}')
    assert data.data_files(str(csv)).pattern == "*.csv"


def test_feature_settings_are_checked_against_the_data(tmp_path):
    wine = str(foreign.wine_like_csv(tmp_path / "wine").parent)
    config = data.feature_config(wine, "target", {}, ["region"])
    assert config == {"feature_shapes": {}, "categorical_features": ["region"]}
    with pytest.raises(data.DataError, match="'colour' is named .* not a column"):
        data.feature_config(wine, "target", {}, ["colour"])
    images = str(foreign.images_tfrecords(tmp_path / "png", kind="png", channels=3))
    assert data.feature_config(images, "label", {}, ())["feature_shapes"] == {"image": [8, 8, 3]}
    with pytest.raises(data.DataError, match="a shape is 1 to 3 positive whole numbers"):
        data.feature_config(images, "label", {"image": [8, 0]}, ())
    arrays = foreign.images_tfrecords(tmp_path / "int", kind="int")
    shapes = json.loads((arrays / "dataset.json").read_text())["feature_shapes"]
    assert data.input_overrides(shapes) == {"pixels_xf": {"kind": "image", "shape": [8, 8, 1]}}


def test_column_names_become_safe_distinct_names():
    messy = [*foreign.WINE_COLUMNS, "Alcohol", "ward.code", "ward_code", "日本"]
    safe = [names.feature_name(c) for c in messy]
    assert len(set(safe)) == len(messy)
    assert all(names.SAFE_NAME.match(n) for n in safe), safe
    assert names.feature_name("bill_length_mm") == "bill_length_mm"  # safe names are kept
    assert names.xf("od280/od315_of_diluted_wines").startswith("od280_od315_of_diluted_wines_")
    assert names.xf_base(names.xf("2nd reading")) == names.feature_name("2nd reading")


def test_the_pyfunc_returns_each_class_as_its_own_value():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
    task = tasks.CLASSIFICATION
    frame = task.pyfunc_frame(probabilities, [0, 1, 2])
    assert list(frame["class"]) == [1, 0] and frame["class"].dtype.kind == "i"
    assert task.output_columns([0, 1, 2])[0] == ("class", "long")
    booleans = task.pyfunc_frame(probabilities[:, :2], [False, True])
    assert list(booleans["class"]) == [True, False] and booleans["class"].dtype == bool
    assert task.output_columns([False, True])[0] == ("class", "boolean")
    assert list(task.pyfunc_frame(probabilities, ["a", "b", "c"])["class"]) == ["b", "a"]
    # raw label values as an eval row has them: 2.0 is the class 2, "true" the class True
    assert list(task.labels([2.0, 0, None, 7], [0, 1, 2])) == [2, 0, -1, -1]
    assert list(task.labels(["true", "false"], [False, True])) == [1, 0]


# ---- the compiled pipeline ---------------------------------------------------------------------


def test_foreign_data_compiles(tmp_path):
    from pipelines.retrain import create_pipeline
    from pipelines.settings import Settings

    def compiled(folder, **kw):
        s = Settings(
            data=str(folder),
            pipeline_root=str(tmp_path / "root"),
            metadata_path=str(tmp_path / "m.sqlite"),
            **kw,
        )
        return {c.id: c for c in create_pipeline(s).components}

    def config(node, key):
        return json.loads(node.exec_properties[key])

    wine = foreign.wine_like_csv(tmp_path / "wine", label="Wine class/type").parent
    nodes = compiled(wine, label="Wine class/type")
    transform = config(nodes["Transform"], "custom_config")
    assert transform["classes"] == [0, 1, 2] and transform["label_encoding"] == "classes"
    assert config(nodes["Evaluator"], "gate")["label"] == "Wine class/type"
    label_key = tasks.CLASSIFICATION.eval_config("Wine class/type", "multiclass").model_specs[0]
    assert label_key.label_key == names.xf("Wine class/type")
    assert names.SAFE_NAME.match(label_key.label_key)

    signals = foreign.signals_tfrecords(tmp_path / "signals", gzipped=False)
    nodes = compiled(signals)  # the label from its dataset.json
    assert type(nodes["ExampleGen"]).__name__ == "ImportExampleGen"
    assert '"*.tfrecord"' in str(nodes["ExampleGen"].exec_properties["input_config"])
    transform = config(nodes["Transform"], "custom_config")
    assert transform["feature_shapes"] == {"signal": [40]} and transform["classes"] == [0, 1, 2]
    search = config(nodes["Tuner"], "search_config")
    assert search["input_overrides"] == {"signal_xf": {"kind": "signal", "shape": [40]}}

    # a declared shape: from the data folder's dataset.json, or the setting (which wins)
    images = foreign.images_tfrecords(tmp_path / "images", kind="float")
    transform = config(compiled(images)["Transform"], "custom_config")
    assert transform["feature_shapes"] == {"pixels": [8, 8, 1]}
    nodes = compiled(images, feature_shapes={"pixels": [64]}, classes=["column", "bar"])
    transform = config(nodes["Transform"], "custom_config")
    assert transform["feature_shapes"] == {"pixels": [64]}
    assert transform["classes"] == ["bar", "column"]


# ---- through Transform ----------------------------------------------------------------------

tf = pytest.importorskip("tensorflow")


def _analyze(tmp_path, spec: dict, rows: list[dict], fn):
    """Transform's analysis of `rows` ({name: (kind, values)}, a missing value an absent
    feature), written as Transform writes it; the TFTransformOutput."""
    instances = [{k: [] for k in spec} | {k: v for k, (_, v) in r.items()} for r in rows]
    return local.analyze(tmp_path, spec, instances, fn)


def _transform(tft_out, rows: list[dict]) -> dict:
    return local.transform(tft_out, [tfrecord.encode_example(r) for r in rows])


LABELS = {  # label column: kind, classes, values (None: missing) and their expected indices
    "int label": ("int64", [0, 1, 2], [2, 0, 1, None, 7], [2, 0, 1, -1, -1]),
    "bool text": (
        "bytes",
        [False, True],
        [b"true", b"False", b" TRUE", None, b"no"],
        [1, 0, 1, -1, -1],
    ),
    "bool int": ("int64", [0, 1], [1, 0, 1, None, 5], [1, 0, 1, -1, -1]),
    "species": (
        "bytes",
        ["Adelie", "Chinstrap", "Gentoo"],
        [b"Gentoo", b"Adelie", None, b"x", b"Chinstrap"],
        [2, 0, -1, -1, 1],
    ),
    "few floats": ("float", [0.1, 0.5, 2.5], [2.5, 0.1, 0.5, None, 0.3], [2, 0, 1, -1, -1]),
}


def test_every_label_type_keeps_its_values_and_order(tmp_path):
    """Each label maps to its class's index in the sorted classes, matched in its own type;
    missing or not a class: -1 (training leaves the row out). The classes travel with the
    transform graph, typed: ints, bools, text, floats."""
    from pipelines.user_module import model_module

    encode = model_module.LABEL_ENCODINGS
    dtypes = {"int64": tf.int64, "bytes": tf.string, "float": tf.float32}
    spec = {k: tf.io.VarLenFeature(dtypes[kind]) for k, (kind, *_) in LABELS.items()}
    spec["value"] = tf.io.VarLenFeature(tf.float32)
    rows = [
        {k: (kind, [v[i]]) for k, (kind, _, v, _) in LABELS.items() if v[i] is not None}
        for i in range(5)
    ]
    for i, row in enumerate(rows):
        if i != 3:
            row["value"] = ("float", [10.0 * i])

    def fn(inputs):
        out = {names.xf(k): encode["classes"](inputs[k], k, c) for k, (_, c, *_) in LABELS.items()}
        return {**out, "value_xf": encode["value"](inputs["value"], "value", [])}

    tft_out = _analyze(tmp_path, spec, rows, fn)
    got = _transform(tft_out, rows)
    for label, (_, classes, _, expected) in LABELS.items():
        assert list(got[names.xf(label)]) == expected, label
        assert tasks.CLASSIFICATION.classes(tft_out, label) == classes, label
        assert tasks.CLASSIFICATION.label_outputs(tft_out, label) == len(classes)
    assert [type(c) for c in tasks.CLASSIFICATION.classes(tft_out, "bool text")] == [bool, bool]
    assert [type(c) for c in tasks.CLASSIFICATION.classes(tft_out, "int label")] == [int] * 3
    values = got["value_xf"]
    assert list(values[[0, 1, 2, 4]]) == [0.0, 10.0, 20.0, 40.0] and np.isnan(values[3])


def test_every_feature_kind_becomes_a_model_input(tmp_path):
    from components.nas_tuner import tfx_io
    from pipelines.user_module import model_module

    pixels = [[[0, 50, 100], [150, 200, 250]], [[10, 20, 30], [40, 50, 60]]]  # 2x2 RGB
    spec = {
        "Alcohol %": tf.io.VarLenFeature(tf.float32),
        "2nd reading": tf.io.VarLenFeature(tf.int64),
        "ward.code": tf.io.VarLenFeature(tf.string),
        "ward id": tf.io.VarLenFeature(tf.int64),
        "signal": tf.io.VarLenFeature(tf.float32),
        "pixels": tf.io.VarLenFeature(tf.float32),
        "counts": tf.io.VarLenFeature(tf.int64),
        "photo": tf.io.VarLenFeature(tf.string),
        "all missing": tf.io.VarLenFeature(tf.float32),
        "target": tf.io.VarLenFeature(tf.int64),
    }
    rows = [
        {
            "Alcohol %": ("float", [12.0 + i]),
            "2nd reading": ("int64", [i * 3]),
            "ward.code": ("bytes", [b"A1" if i % 2 else b"B2"]),
            "ward id": ("int64", [100 + i % 3]),
            "signal": ("float", [float(i + j) for j in range(6)]),
            "pixels": ("float", [0.25 * j * i for j in range(4)]),
            "counts": ("int64", [0, 255, 51, 102]),
            "photo": ("bytes", [foreign.png(pixels)]),
            "target": ("int64", [i % 3]),
        }
        for i in range(6)
    ]
    del rows[1]["Alcohol %"], rows[2]["signal"], rows[3]["photo"], rows[4]["target"]
    shapes = {"signal": [6], "pixels": [2, 2], "counts": [2, 2, 1], "photo": [2, 2, 3]}
    config = {
        "label": "target",
        **tasks.CLASSIFICATION.user_config([0, 1, 2]),
        "feature_shapes": shapes,
        "categorical_features": ["ward id"],
        "ignore": [],
        "hashed": [],
        "timestamp": [],
        "text": [],
    }
    tft_out = _analyze(
        tmp_path, spec, rows, lambda inputs: model_module.preprocessing_fn(inputs, config)
    )
    got = _transform(tft_out, rows)
    assert set(got) == {names.xf(c) for c in spec}
    for name, values in got.items():
        assert np.isfinite(values.astype(float)).all(), name
    xf = names.xf
    assert got[xf("Alcohol %")].shape == (6, 1) and abs(got[xf("Alcohol %")][1, 0]) < 1e-5
    assert np.all(got[xf("all missing")] == 0)
    assert got[xf("signal")].shape == (6, 6) and np.allclose(got[xf("signal")][2], 0, atol=1e-6)
    assert got[xf("counts")].shape == (6, 4) and np.allclose(got[xf("counts")][0], [0, 1, 0.2, 0.4])
    assert got[xf("pixels")].min() == 0 and got[xf("pixels")].max() == 1
    photo = np.array(pixels, dtype=float).reshape(-1) / 255
    assert got[xf("photo")].shape == (6, 12) and np.allclose(got[xf("photo")][0], photo, atol=1e-6)
    assert np.all(got[xf("photo")][3] == 0)  # a missing image is black
    assert list(got[xf("target")][:, 0]) == [0, 1, 2, 0, -1, 2]
    assert {int(v) for v in got[xf("ward id")][:, 0]} <= {0, 1, 2}

    overrides = data.input_overrides(shapes)
    spec_ = tfx_io.input_spec(tft_out, "target", overrides, "classification", [])
    kinds = {f.name: (f.kind, f.shape) for f in spec_.features}
    assert kinds[xf("signal")] == ("signal", (6, 1))
    assert kinds[xf("pixels")] == ("image", (2, 2, 1))
    assert kinds[xf("photo")] == ("image", (2, 2, 3))
    assert kinds[xf("ward id")][0] == kinds[xf("ward.code")][0] == "categorical"
    assert kinds[xf("2nd reading")] == ("numeric", ())
    assert spec_.n_outputs == 3
