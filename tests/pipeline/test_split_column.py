"""A dataset's own split column (setting `split_column`): ExampleGen, run as a DAG task runs it
(pipelines.run_node), sends each row to the split the column names and drops the column, which
is no feature; a value that names no split fails the node in one line."""

from __future__ import annotations

import glob
import os

import pytest

from pipelines.run_node import run_node
from pipelines.settings import Settings
from tests.pipeline import local


def table(folder, folds: list[str]) -> str:
    folder.mkdir()
    rows = [f"{i},{i % 3},{fold}" for i, fold in enumerate(folds)]
    (folder / "rows.csv").write_text("x,label,fold\n" + "\n".join(rows) + "\n")
    return str(folder)


def settings(tmp_path, data: str) -> Settings:
    return local.settings(tmp_path, data, label="label", split_column="fold")


def split_rows(root, split: str) -> list:
    import tensorflow as tf

    files = glob.glob(os.path.join(root, "ExampleGen", "examples", "*", f"Split-{split}", "*"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    return [tf.train.Example.FromString(r).features.feature for r in records]


def test_each_row_goes_to_the_split_its_column_names(tmp_path):
    folds = ["train"] * 30 + ["validation"] * 8 + ["TEST"] * 12
    s = settings(tmp_path, table(tmp_path / "data", folds))
    result = run_node(s, "split-column", "ExampleGen")
    assert result["state"] == "COMPLETE", result
    counts = {
        split: split_rows(tmp_path / "root", split) for split in ("train", "validation", "test")
    }
    assert {k: len(v) for k, v in counts.items()} == {"train": 30, "validation": 8, "test": 12}
    assert all("fold" not in row and "x" in row for rows in counts.values() for row in rows)
    # The rows themselves: x is the row number, so the test rows are the last twelve.
    test_x = sorted(int(row["x"].int64_list.value[0]) for row in counts["test"])
    assert test_x == list(range(38, 50))


def test_a_value_that_names_no_split_fails_in_one_line(tmp_path):
    s = settings(tmp_path, table(tmp_path / "data", ["train"] * 20 + ["holdout"] + ["test"] * 9))
    with pytest.raises(Exception, match="split_column 'fold' holds 'holdout'") as failure:
        run_node(s, "split-column-bad", "ExampleGen")
    assert "['train', 'validation', 'test']" in str(failure.value)
