"""preprocessing_fn on real tf.Transform (Beam, in memory): missing values and unseen categories."""

from __future__ import annotations

import math

import pytest

tf = pytest.importorskip("tensorflow")
tft_beam = pytest.importorskip("tensorflow_transform.beam")

from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils  # noqa: E402

from core import tasks  # noqa: E402
from pipelines.user_module import model_module  # noqa: E402

# What the pipeline passes Transform (pipelines/retrain.py): the label, the task's side with the
# classes (sorted), and the data settings (none here: numbers and text only).
CONFIG = {
    "label": "species",
    **tasks.CLASSIFICATION.user_config(["Adelie", "Chinstrap", "Gentoo"]),
    "feature_shapes": {},
    "categorical_features": [],
    "ignore": [],
    "hashed": [],
    "timestamp": [],
    "text": [],
}

RAW_SPEC = {
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    "island": tf.io.VarLenFeature(tf.string),
    "sex": tf.io.VarLenFeature(tf.string),
    "species": tf.io.VarLenFeature(tf.string),
}


def row(bill, mass, island, sex, species):
    return {
        "bill_length_mm": [] if bill is None else [bill],
        "body_mass_g": [] if mass is None else [mass],
        "island": [island],
        "sex": [] if sex is None else [sex],
        "species": [species],
    }


TRAIN = [
    row(39.1, 3750, b"Torgersen", b"male", b"Adelie"),
    row(46.5, 4500, b"Dream", b"female", b"Chinstrap"),
    row(None, None, b"Biscoe", None, b"Gentoo"),  # missing bill length, mass and sex
    row(49.9, 5400, b"Biscoe", b"male", b"Gentoo"),
]
NEW = [
    row(None, 4100, b"Torgersen", None, b"Adelie"),  # missing bill length and sex
    row(41.0, 3900, b"Atlantis", b"female", b"Adelie"),  # an island never seen
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        transform_fn = (TRAIN, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: model_module.preprocessing_fn(inputs, CONFIG)
        )
        (rows, _) = ((NEW, metadata), transform_fn) | tft_beam.TransformDataset()
    return rows


def test_missing_values_leave_no_nan(transformed):
    missing = transformed[0]
    for name, value in missing.items():
        values = value.tolist() if hasattr(value, "tolist") else value
        values = values if isinstance(values, list) else [values]
        assert not any(isinstance(v, float) and math.isnan(v) for v in values), name
    # a missing bill length becomes the training mean, i.e. z-score 0
    assert abs(float(missing["bill_length_mm_xf"][0])) < 1e-5


def test_unseen_island_maps_to_the_oov_bucket(transformed):
    known_islands = 3  # Torgersen, Dream, Biscoe
    assert int(transformed[1]["island_xf"][0]) == known_islands  # first OOV id
    assert int(transformed[0]["island_xf"][0]) < known_islands


def test_label_becomes_a_class_index(transformed):
    assert {int(r["species_xf"][0]) for r in transformed} <= {0, 1, 2}


def test_a_missing_setting_is_named():
    """The module has no defaults of its own: the pipeline passes every key."""
    with pytest.raises(KeyError, match="label_encoding"):
        model_module.preprocessing_fn({}, {"label": "species"})


def test_an_ignored_column_is_no_feature_and_a_hashed_one_a_category(tmp_path):
    """`ignore` and `hashed` (pipelines/data_checks.py: ID-like columns): sex leaves no output;
    body mass becomes a category of its hashed value, the same id for the same value."""
    config = {**CONFIG, "ignore": ["sex"], "hashed": ["body_mass_g"]}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        transform_fn = (TRAIN, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: model_module.preprocessing_fn(inputs, config)
        )
        again = [row(40.0, 3750, b"Dream", None, b"Adelie"), *NEW]
        (rows, _) = ((again, metadata), transform_fn) | tft_beam.TransformDataset()
    assert all("sex_xf" not in r for r in rows) and all("island_xf" in r for r in rows)
    ids = [int(r["body_mass_g_xf"][0]) for r in rows]
    # 3750 was seen in training (a known bucket); 4100 and 3900 were not (the OOV id, 4: three
    # masses and the missing token make the vocabulary).
    assert ids[0] < 4 and ids[1] == ids[2] == 4, ids
