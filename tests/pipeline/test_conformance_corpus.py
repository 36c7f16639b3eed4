"""The conformance corpus's generators (bench/conformance/corpus.py), without running the
pipeline: at least 12 data folders, each with a dataset.json naming a label that is a column
or feature of its data, the row counts said, and what the pipeline reads from each folder where
it compiles (data files, task, classes, tensor features) as the corpus says. Seconds, no
TensorFlow."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.conformance import corpus
from core import tfrecord
from pipelines import task as data_task

TYPES = {"text": str, "int": int, "bool": bool, "float (few values)": float}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, corpus.write_all(root)


def test_the_corpus_covers_every_kind_format_and_label_type():
    names = [e.name for e in corpus.CORPUS]
    assert len(names) >= 12 and len(set(names)) == len(names)
    sklearn = {"iris", "wine", "breast_cancer", "digits", "diabetes", "linnerud"}
    assert sklearn | {"penguins", "signals", "clinic"} <= set(names)
    assert {e.kind for e in corpus.CORPUS} == {"table", "signal", "image"}
    formats = {"CSV", "TFRecord plain", "TFRecord gzip", "Parquet", "PostgreSQL"}
    assert {e.format for e in corpus.CORPUS} == formats
    assert {e.task for e in corpus.CORPUS} == {"classification", "regression"}
    assert {*TYPES, "float"} <= {e.label_type for e in corpus.CORPUS}
    for e in corpus.CORPUS:
        assert e.source and e.covers, e.name


def _rows(folder: Path, files: data_task.DataFiles, label: str) -> int:
    if files.kind == "csv":
        n = 0
        for path in files.files:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                assert label in reader.fieldnames, (path, reader.fieldnames)
                n += sum(1 for _ in reader)
        return n
    if files.kind == "parquet":
        import pyarrow.parquet as pq

        tables = [pq.read_table(p) for p in files.files]
        assert all(label in t.column_names for t in tables), files.files
        return sum(t.num_rows for t in tables)
    n = 0
    for path in files.files:
        for example in tfrecord.examples(path):
            assert label in example, (path, sorted(example))
            n += 1
    return n


@pytest.mark.parametrize("entry", corpus.CORPUS, ids=lambda e: e.name)
def test_each_folder_is_valid_data_with_its_manifest(written, entry):
    root, rows = written
    folder = root / entry.name
    if entry.format == "PostgreSQL":  # its rows live in a server (bench/conformance/kinds.py)
        assert rows[entry.name] == 1000 and entry.params["label"] == "churned"
        return
    manifest = json.loads((folder / "dataset.json").read_text())
    label = manifest["label"]
    assert isinstance(label, str) and label

    files = data_task.data_files(str(folder))
    kinds = {"CSV": "csv", "Parquet": "parquet"}
    assert files.kind == kinds.get(entry.format, "tfrecord")
    assert files.files and not any(f.endswith("dataset.json") for f in files.files)
    for path in files.files:
        gzipped = tfrecord.compression(path) == "GZIP"
        assert gzipped == (entry.format == "TFRecord gzip"), path
    # every row has the label; the count is what the corpus says, and the same row count twice
    assert rows[entry.name] == _rows(folder, files, label) > 0

    # what the pipeline reads where it compiles
    task, why = data_task.resolve(entry.params.get("task", "auto"), str(folder), label)
    assert task == entry.task, why
    config = data_task.feature_config(
        str(folder),
        label,
        manifest.get("feature_shapes", {}),
        manifest.get("categorical_features", ()),
    )
    assert bool(config["feature_shapes"]) == (entry.kind in ("signal", "image"))
    if task == "classification":
        classes, _ = data_task.classes(str(folder), label, manifest.get("classes", ()))
        assert len(classes) >= 2
        assert all(type(c) is TYPES[entry.label_type] for c in classes), classes


def test_the_generators_are_deterministic(tmp_path):
    for name in ("signals", "clinic", "stores", "events", "parquet_vectors", "tickets", "notes"):
        a, b = tmp_path / f"{name}-a", tmp_path / f"{name}-b"
        corpus.write(corpus.BY_NAME[name], a)
        corpus.write(corpus.BY_NAME[name], b)
        for path in sorted(a.iterdir()):
            assert path.read_bytes() == (b / path.name).read_bytes(), path.name
