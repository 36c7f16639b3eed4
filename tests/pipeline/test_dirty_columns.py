"""Dirty columns as users have them (pipelines/data_checks.py, core/columns.py) and Parquet
folders (core/parquet.py), on small generated tables: the pipeline's compile refuses what cannot
be used in one line, and ExampleGen, run as a DAG task runs it (pipelines.run_node), reads
what can."""

from __future__ import annotations

import glob
import json
import logging
import os

import pytest

from components.example_gen import executor
from pipelines import task as data_task
from pipelines.retrain import create_pipeline
from pipelines.run_node import run_node
from tests.pipeline.local import settings

ROWS = 300


def dirty_table(folder, unlabelled_every: int = 10) -> str:
    """x: a number, `n/a` in every seventh row; y: the label (0/1 from x), missing in every
    `unlabelled_every`-th row; row_id: 1..ROWS (an ID); colour: a category."""
    folder.mkdir()
    lines = ["x,y,row_id,colour"]
    for i in range(ROWS):
        x = "n/a" if i % 7 == 3 else f"{(i * 37 % 100) / 10:.1f}"
        y = "" if i % unlabelled_every == unlabelled_every // 2 else str(int((i * 37 % 100) >= 50))
        lines.append(f"{x},{y},{i + 1},{'red green blue'.split()[i % 3]}")
    (folder / "rows.csv").write_text("\n".join(lines) + "\n")
    return str(folder)


def examples(root, split: str) -> list:
    import tensorflow as tf

    files = glob.glob(os.path.join(root, "ExampleGen", "examples", "*", f"Split-{split}", "*"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    return [tf.train.Example.FromString(r).features.feature for r in records]


def all_examples(root) -> list:
    return [row for split in ("train", "validation", "test") for row in examples(root, split)]


def test_unlabelled_rows_are_dropped_and_na_stays_numeric(tmp_path, caplog):
    s = settings(tmp_path, dirty_table(tmp_path / "data"), label="y")
    caplog.set_level(logging.INFO)
    result = run_node(s, "dirty", "ExampleGen")
    assert result["state"] == "COMPLETE", result
    lines = [r.getMessage() for r in caplog.records]
    unlabelled = [m for m in lines if m.startswith("unlabelled rows:")]
    assert unlabelled and "30 of 300 (10.0%)" in unlabelled[0] and "'y'" in unlabelled[0]
    tokens = [m for m in lines if m.startswith("missing values: column 'x'")]
    assert tokens and "43 missing-value token(s)" in tokens[0] and "'n/a' x43" in tokens[0]
    ids = [m for m in lines if m.startswith("ID-like column 'row_id'")]
    assert ids, lines[-20:]
    # ExampleGen logs them too, in its own log (the warm executor compiles elsewhere).
    by_node = [r.getMessage() for r in caplog.records if r.name == "absl"]
    assert unlabelled[0] in by_node and tokens[0] in by_node and ids[0] in by_node
    rows = all_examples(tmp_path / "root")
    assert len(rows) == ROWS - 30  # the unlabelled rows are in no split, so never scored
    assert all(row["y"].int64_list.value for row in rows)
    kinds = {row["x"].WhichOneof("kind") for row in rows if "x" in row}
    assert kinds == {"float_list"}  # numeric, not a string category
    assert sum(1 for row in rows if not row["x"].float_list.value) == 39  # n/a: missing
    transform = next(c for c in create_pipeline(s).components if c.id == "Transform")
    config = json.loads(transform.exec_properties["custom_config"])
    assert config["ignore"] == ["row_id"] and config["hashed"] == []


def test_settings_keep_an_id_hashed_and_ignore_a_column(tmp_path):
    data = dirty_table(tmp_path / "data")
    s = settings(tmp_path, data, label="y", hashed=("row_id",), ignore=("colour",))
    transform = next(c for c in create_pipeline(s).components if c.id == "Transform")
    config = json.loads(transform.exec_properties["custom_config"])
    assert config["ignore"] == ["colour"] and config["hashed"] == ["row_id"]
    with pytest.raises(data_task.DataError, match=r"ignore names \['nope'\], not columns"):
        create_pipeline(settings(tmp_path, data, label="y", ignore=("nope",)))


def test_too_many_unlabelled_rows_refuse_the_table(tmp_path):
    data = dirty_table(tmp_path / "data", unlabelled_every=2)  # half the rows
    with pytest.raises(data_task.DataError) as refused:
        create_pipeline(settings(tmp_path, data, label="y", max_unlabelled_share=0.2))
    line = str(refused.value)
    assert "150 of 300 rows (50.0%) have no value in the label 'y'" in line, line
    assert "above max_unlabelled_share 0.2" in line and "\n" not in line
    create_pipeline(settings(tmp_path, data, label="y", max_unlabelled_share=0.6))  # accepted


def test_declared_tokens_replace_the_standard_ones(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    body = "".join(f"{'unknown' if i % 5 == 0 else i},{i % 2}\n" for i in range(50))
    (data / "t.csv").write_text("x,y\n" + body)
    (data / "dataset.json").write_text('{"label": "y", "missing_tokens": ["unknown"]}')
    gen = next(
        c for c in create_pipeline(settings(tmp_path, data)).components if c.id == "ExampleGen"
    )
    cleaning = executor.config_of(gen.exec_properties)
    assert cleaning["missing_columns"] == ["x"] and "unknown" in cleaning["missing_tokens"]
    assert "n/a" not in cleaning["missing_tokens"]


def test_a_label_that_is_not_a_column_is_refused_at_compile(tmp_path):
    data = dirty_table(tmp_path / "data")
    with pytest.raises(data_task.DataError) as refused:
        create_pipeline(settings(tmp_path, data, label="target"))
    assert str(refused.value) == (
        f"label 'target' is not a column of {data} (columns: colour, row_id, x, y)"
    )


def test_a_file_that_is_not_utf8_is_refused_with_its_byte_offset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    text = "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40))
    (data / "t.csv").write_bytes(text.encode() + b"caf\xe9,1\n")
    with pytest.raises(data_task.DataError) as refused:
        create_pipeline(settings(tmp_path, data, label="y"))
    offset = len(text.encode()) + 3
    assert str(refused.value) == (
        f"{data / 't.csv'}: not UTF-8 text: byte 0xe9 at byte offset {offset} (line 42); save "
        "the file as UTF-8"
    )


def parquet_folder(folder, files: int = 2) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    for f in range(files):
        n = range(f * 50, f * 50 + 50)
        table = pa.table(
            {
                "count": pa.array([i % 9 if i % 11 else None for i in n], pa.int64()),
                "ratio": pa.array([i / 7 if i % 13 else None for i in n], pa.float64()),
                "zero": pa.array([0.0 for _ in n], pa.float32()),
                "city": pa.array([["Oslo", "Lima"][i % 2] for i in n]),
                "vec": pa.array([[i * 0.5, 1.0, -1.0, float(i % 3)] for i in n]),
                "label": pa.array([i % 2 == 0 for i in n]),
                "uid": pa.array([f"u{i:05d}" for i in n]),  # an ID
            }
        )
        pq.write_table(table, folder / f"part-{f}.parquet")
    (folder / "README.md").write_text("not data")
    return str(folder)


def test_a_parquet_folder_is_a_source_with_its_arrow_types(tmp_path):
    data = parquet_folder(tmp_path / "data")
    s = settings(tmp_path, data, label="label")
    assert data_task.data_files(data).pattern == "*.parquet"
    p = create_pipeline(s)
    by_id = {c.id: c for c in p.components}
    assert type(by_id["ExampleGen"]).__name__ == "FileBasedExampleGen"
    transform = json.loads(by_id["Transform"].exec_properties["custom_config"])
    assert transform["feature_shapes"] == {"vec": [4]}  # the list column: a vector
    assert transform["classes"] == [0, 1]  # a bool label is 0/1, as in a TFRecord
    assert transform["ignore"] == ["uid"]  # ID-like: 100 distinct texts in 100 rows
    result = run_node(s, "parquet", "ExampleGen")
    assert result["state"] == "COMPLETE", result
    rows = all_examples(tmp_path / "root")
    assert len(rows) == 100
    first = {name: f.WhichOneof("kind") for name, f in rows[1].items()}
    assert first == {
        "count": "int64_list",
        "ratio": "float_list",
        "zero": "float_list",
        "city": "bytes_list",
        "vec": "float_list",
        "label": "int64_list",
        "uid": "bytes_list",
    }
    assert all(len(r["vec"].float_list.value) == 4 for r in rows)
    assert all(list(r["zero"].float_list.value) == [0.0] for r in rows)  # 0 is a value
    assert sum(1 for r in rows if "count" not in r or not r["count"].int64_list.value) == 10
    # The same file state, the same input fingerprint: a second run's ExampleGen is CACHED.
    again = run_node(s, "parquet-again", "ExampleGen")
    assert again["state"] == "CACHED", again


def test_a_folder_without_data_files_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.json").write_text('{"label": "y"}')
    with pytest.raises(data_task.DataError) as refused:
        create_pipeline(settings(tmp_path, data))
    assert str(refused.value) == (
        f"{data} holds no data files: no *.csv, *.parquet or TFRecord file among ['dataset.json']"
    )


def test_a_parquet_label_that_is_not_a_column_is_refused(tmp_path):
    data = parquet_folder(tmp_path / "data", files=1)
    with pytest.raises(
        data_task.DataError, match=r"label 'y' is not a column of .*label, ratio, uid, vec"
    ):
        create_pipeline(settings(tmp_path, data, label="y"))
