"""Time columns (issue 34, "Timestamps") on small generated tables: which columns the pipeline
reads as time where it compiles (core/columns.py, pipelines/data_checks.py: no TensorFlow), and
what Transform makes of them (tf.Transform on Beam, in memory, through the user module's
preprocessing_fn), through the transform graph as the serving signature applies it."""

from __future__ import annotations

import datetime
import json
import logging
import math
import random

import numpy as np
import pytest

from core import columns, names, tasks
from pipelines import task as data_task
from pipelines.retrain import data_config
from tests.pipeline import local
from tests.pipeline.local import settings

ROWS = 240
START = datetime.datetime(2024, 1, 1)


def config_of(tmp_path, data, **kw) -> tuple[dict, dict]:
    """(Transform's custom_config, ExampleGen's cleaning) as the pipeline compiles them."""
    s = settings(tmp_path, data, label="y", **kw)
    return data_config(s, str(data), tasks.get(tasks.CLASSIFICATION.name))


def events_csv(folder, manifest: dict | None = None) -> str:
    """created_at: ISO 8601 in several accepted forms (one row `n/a`, one empty); ts: epoch
    seconds; note: free text; session_id: an ID; n: a small count; y: the label."""
    folder.mkdir()
    rnd = random.Random(3)
    forms = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%SZ")
    lines = ["created_at,ts,note,session_id,n,y"]
    for i in range(ROWS):
        when = START + datetime.timedelta(minutes=rnd.randrange(365 * 24 * 60))
        text = when.strftime(forms[i % len(forms)] if i % 40 else "%Y-%m-%d")
        text = {7: "n/a", 8: ""}.get(i, text)
        epoch = int(when.replace(tzinfo=datetime.timezone.utc).timestamp())
        note = f"parcel {i % 40} left the depot late on a {rnd.choice(['wet', 'dry'])} day"
        lines.append(f"{text},{epoch},{note},s{i:05d},{i % 4},{i % 2}")
    (folder / "rows.csv").write_text("\n".join(lines) + "\n")
    if manifest:
        (folder / "dataset.json").write_text(json.dumps(manifest))
    return str(folder)


def test_iso_text_is_detected_epoch_seconds_only_when_named(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    data = events_csv(tmp_path / "data")
    config, cleaning = config_of(tmp_path, data)
    # created_at: ISO (2 of 240 values not); ts: whole numbers, never time unless named; note:
    # free text; session_id: an ID. Time wins over the ID rule: created_at is nearly unique.
    assert config["timestamp"] == ["created_at"]
    assert config["ignore"] == ["session_id"]
    profile = columns.csv_profile([f"{data}/rows.csv"], "y")
    assert set(profile.id_like("y")) == {"created_at", "session_id"}  # but for time
    line = "time columns: 'created_at' (ISO 8601, detected); each becomes hour of day"
    assert any(m.startswith(line) for m in [r.getMessage() for r in caplog.records])
    # ExampleGen logs it again in its own task's log (the warm executor compiles elsewhere).
    assert any(n.startswith(line) for n in cleaning["notes"]), cleaning

    named = events_csv(tmp_path / "named", {"label": "y", "timestamp": ["ts"]})
    config, cleaning = config_of(tmp_path, named)
    assert config["timestamp"] == ["created_at", "ts"]
    assert [n for n in cleaning["notes"] if n.startswith("time columns:")] == [
        "time columns: 'created_at' (ISO 8601, detected), 'ts' (epoch seconds, named); each "
        "becomes hour of day, weekday and month (sin/cos) and the time elapsed since the "
        "training data's earliest"
    ]
    # ignore and hashed win over detection; a free-text column is no time even when 1 in 10
    # of its values is a date.
    config, _ = config_of(tmp_path, data, ignore=("created_at",))
    assert config["timestamp"] == [] and config["ignore"] == ["created_at", "session_id"]
    assert not columns.iso_time("parcel 3 left") and not columns.iso_time("2024-02-30")
    assert columns.iso_time("2024-02-29T23:59:60.5+05:30") and columns.iso_time("2024-02-29")


def test_example_gen_logs_the_time_columns_in_its_own_log(tmp_path, caplog):
    """The line reaches the task log: ExampleGen, run as a DAG task runs it, logs it again
    (lines logged where the warm executor compiles do not reach the task's log)."""
    from pipelines.run_node import run_node

    caplog.set_level(logging.INFO)
    s = settings(tmp_path, events_csv(tmp_path / "data"), label="y")
    result = run_node(s, "time", "ExampleGen")
    assert result["state"] == "COMPLETE", result
    by_node = [r.getMessage() for r in caplog.records if r.name == "absl"]
    assert any(m.startswith("time columns: 'created_at' (ISO 8601, detected)") for m in by_node)


def test_a_named_column_that_is_not_time_is_refused_in_one_line(tmp_path):
    data = events_csv(tmp_path / "data", {"label": "y", "timestamp": ["note"]})
    with pytest.raises(data_task.DataError) as refused:
        config_of(tmp_path, data)
    assert str(refused.value) == (
        f"{data}: timestamp column 'note' holds 'parcel 0 left the depot late on a wet day', "
        "not an ISO 8601 date or date-time (YYYY-MM-DD[THH:MM[:SS]]) nor epoch seconds"
    )
    with pytest.raises(data_task.DataError, match=r"timestamp names \['nope'\], not columns"):
        config_of(tmp_path, events_csv(tmp_path / "d2", {"label": "y", "timestamp": ["nope"]}))


def test_parquet_dates_and_iso_strings_are_time(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data"
    folder.mkdir()
    when = [START + datetime.timedelta(hours=7 * i) for i in range(150)]
    table = pa.table(
        {
            "at": pa.array(when, pa.timestamp("s")),
            "day": pa.array([w.date() for w in when], pa.date32()),
            "iso": pa.array([w.isoformat() for w in when]),
            "uid": pa.array([f"u{i:05d}" for i in range(150)]),
            "y": pa.array([i % 2 for i in range(150)]),
        }
    )
    pq.write_table(table, folder / "part-0.parquet")
    config, _ = config_of(tmp_path, folder)
    assert config["timestamp"] == ["at", "day", "iso"] and config["ignore"] == ["uid"]


def test_tfrecord_columns_are_time_only_when_named(tmp_path):
    from core import tfrecord

    folder = tmp_path / "data"
    folder.mkdir()
    rows = [
        {
            "ts": ("int64", [1709533800 + 3600 * i]),
            "at": ("bytes", [b"2024-03-04"]),
            "y": ("int64", [i % 2]),
        }
        for i in range(60)
    ]
    tfrecord.write(str(folder / "rows.tfrecord"), rows)
    config, _ = config_of(tmp_path, folder)
    assert config["timestamp"] == []  # never detected in TFRecords
    (folder / "dataset.json").write_text('{"timestamp": ["ts", "at"]}')
    config, cleaning = config_of(tmp_path, folder)
    assert config["timestamp"] == ["at", "ts"]
    assert cleaning["notes"][-1].startswith(
        "time columns: 'at' (ISO 8601, named), 'ts' (epoch seconds, named);"
    )


# ---- what Transform makes of them --------------------------------------------------------------

tf = pytest.importorskip("tensorflow")

KNOWN = [  # (ISO text, epoch seconds) -> hour of day, weekday (Monday 0), month
    (b"2024-03-04T06:30:00", 1709533800, 6.5, 0, 3),  # a Monday
    (b"2023-12-31 23:00", 1704063600, 23.0, 6, 12),  # a Sunday
    (b"2024-07-14", 1720915200, 0.0, 6, 7),
    (b"2024-02-29T12:00:00+02:00", 1709208000, 12.0, 3, 2),  # the offset is ignored
    (b"1999-01-01T00:00:59.25Z", 915148859, 59 / 3600, 4, 1),
]


def _example(row: dict) -> bytes:
    feature = {}
    for name, value in row.items():
        if isinstance(value, bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        elif value is not None:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _analyze(tmp_path, spec: dict, rows: list[dict], config: dict):
    """Transform's analysis of `rows` (plain values, None missing) with the user module."""
    from pipelines.user_module import model_module

    instances = [{k: [] if r.get(k) is None else [r[k]] for k in spec} for r in rows]
    fn = lambda inputs: model_module.preprocessing_fn(inputs, config)  # noqa: E731
    return local.analyze(tmp_path, spec, instances, fn)


def _transform(tft_out, rows: list[dict]) -> dict:
    return local.transform(tft_out, [_example(r) for r in rows])


SPEC = {
    "at": tf.io.VarLenFeature(tf.string),
    "ts": tf.io.VarLenFeature(tf.int64),
    "y": tf.io.VarLenFeature(tf.int64),
}
CONFIG = {
    "label": "y",
    **tasks.CLASSIFICATION.user_config([0, 1]),
    "feature_shapes": {},
    "categorical_features": [],
    "ignore": [],
    "hashed": [],
    "timestamp": ["at", "ts"],
    "text": [],
}


def test_known_timestamps_become_hour_weekday_month_and_elapsed(tmp_path):
    rows = [{"at": at, "ts": ts, "y": i % 2} for i, (at, ts, *_) in enumerate(KNOWN)]
    tft_out = _analyze(tmp_path, SPEC, rows, CONFIG)
    later = [{"at": b"2024-13-01T00:00", "ts": None, "y": 0}, {"at": None, "ts": None, "y": 1}]
    got = _transform(tft_out, rows + later)
    expected = {f"{c}__{p}_xf" for c in ("at", "ts") for p in columns.TIME_PARTS} | {"y_xf"}
    assert set(got) == expected  # the raw text is no feature of its own
    for column in ("at", "ts"):
        part = {p: got[names.time_xf(column, p)][:, 0] for p in columns.TIME_PARTS}
        for i, (*_, hour, weekday, month) in enumerate(KNOWN):
            for name, value, period in (("hour", hour, 24), ("weekday", weekday, 7)):
                angle = 2 * math.pi * value / period
                assert part[f"{name}_sin"][i] == pytest.approx(math.sin(angle), abs=1e-5)
                assert part[f"{name}_cos"][i] == pytest.approx(math.cos(angle), abs=1e-5)
            angle = 2 * math.pi * (month - 1) / 12
            assert part["month_sin"][i] == pytest.approx(math.sin(angle), abs=1e-5)
            assert part["month_cos"][i] == pytest.approx(math.cos(angle), abs=1e-5), (column, i)
        # elapsed: 0 at the training data's earliest time (1999), 1 at its latest (2024-07-14)
        assert part["elapsed"][4] == pytest.approx(0.0) and part["elapsed"][2] == pytest.approx(1)
        days = [(ts - KNOWN[4][1]) / 86400 for _, ts, *_ in KNOWN]
        assert np.allclose(part["elapsed"][:5], np.array(days) / days[2], atol=1e-6)
        # a missing or unreadable time (month 13): no cycle, elapsed the training mean
        assert np.all([part[p][5:] == 0 for p in columns.TIME_PARTS if p != "elapsed"])
        mean = part["elapsed"][:5].mean()
        assert part["elapsed"][6] == pytest.approx(mean, abs=1e-5)
    # ts's times are the same instants in UTC: the same features as the text's wall-clock times
    for p in columns.TIME_PARTS:
        assert np.allclose(got[f"at__{p}_xf"][:5], got[f"ts__{p}_xf"][:5], atol=1e-5), p


def _served(tmp_path, model, tft_out):
    """The pusher's pyfunc of `model` (pipelines.training's serving export, the pusher's own
    `serving.log_pyfunc`), loaded back."""
    import mlflow

    from components.mlflow_pusher import serving
    from core import tracking
    from pipelines import training

    export_dir = str(tmp_path / "Format-Serving")
    task = tasks.CLASSIFICATION
    training.export_serving_model(model, tft_out, "y", export_dir, task.serving_output)
    inputs = serving.model_inputs(tft_out, "y")
    assert inputs == serving.Inputs({"at": "bytes", "ts": "int"}, {})  # the raw column
    previous = mlflow.get_tracking_uri()
    client = tracking.use(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:  # artifacts under tmp_path, not ./mlruns
        experiment = tracking.experiment_id(client, "time", str(tmp_path / "mlartifacts"))
        with mlflow.start_run(experiment_id=experiment):
            info = serving.log_pyfunc(export_dir, inputs, task.classes(tft_out, "y"), task)
        return mlflow.pyfunc.load_model(info.model_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_label_of_hour_and_weekday_is_learnt_and_served_from_raw_rows(tmp_path):
    """y: a weekday afternoon or a weekend morning (hour and weekday, neither alone). The
    transform graph is analysed on training rows; the pipeline's small default network
    (pipelines/training.py) learns y from the time features, and the same network without them
    does not; the registered pyfunc predicts held-out raw rows (ISO text) as well. The search
    sees the time features as numeric inputs."""
    import keras
    import keras_tuner
    import pandas as pd

    from components.nas_tuner import tfx_io
    from pipelines import training

    rnd = random.Random(5)

    def row():
        when = START + datetime.timedelta(minutes=rnd.randrange(365 * 24 * 60))
        busy = (when.weekday() >= 5) != (when.hour >= 12)
        return {"at": when.isoformat().encode(), "ts": rnd.randrange(9), "y": int(busy)}

    train, test = [row() for _ in range(800)], [row() for _ in range(300)]
    config = {**CONFIG, "timestamp": ["at"]}  # ts: a small count, noise
    tft_out = _analyze(tmp_path, SPEC, train, config)
    spec = tfx_io.input_spec(tft_out, "y", {}, "classification", [])
    parts = {names.time_xf("at", p): "numeric" for p in columns.TIME_PARTS}
    assert {f.name: f.kind for f in spec.features} == {**parts, "ts_xf": "numeric"}
    x, x_test = _transform(tft_out, train), _transform(tft_out, test)
    y, y_test = np.array([r["y"] for r in train]), np.array([r["y"] for r in test])

    def fit(features: list[str]):
        keras.utils.set_random_seed(0)
        shapes = {k: v for k, v in training.feature_spec(tft_out, "y").items() if k in features}
        hp = keras_tuner.HyperParameters()
        model = training.build_model(hp, shapes, 2, tasks.CLASSIFICATION.engine)
        model.fit({k: x[k] for k in features}, y, epochs=60, batch_size=64, verbose=0)
        guess = model.predict({k: x_test[k] for k in features}, verbose=0).argmax(-1)
        return model, float((guess == y_test).mean())

    model, with_time = fit([*parts, "ts_xf"])
    _, without = fit(["ts_xf"])
    assert with_time >= 0.9 and without <= 0.65, (with_time, without)
    served = _served(tmp_path, model, tft_out)
    frame = pd.DataFrame([{"at": r["at"].decode(), "ts": r["ts"]} for r in test])
    predicted = served.predict(frame)["class"].to_numpy()
    assert float((predicted == y_test).mean()) == pytest.approx(with_time, abs=0.01)
    # a Saturday morning, with an offset; a missing time is served too
    odd = pd.DataFrame([{"at": "2024-03-09 10:15+05:00", "ts": 1}, {"at": None, "ts": 2}])
    assert list(served.predict(odd)["class"])[0] == 1
