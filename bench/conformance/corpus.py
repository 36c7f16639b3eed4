"""The conformance corpus: datasets of every label type, feature kind and file format the
pipeline claims to take, each written as a data folder with its `dataset.json`.

Nothing is downloaded. The scikit-learn tables are read from the files scikit-learn ships inside
its package (`sklearn/datasets/data`, BSD 3-Clause); penguins is the repository's own
`data/penguins` (CC0, its LICENSE.md copied along); the rest is generated here or by
tests/foreign.py, seeded, so every folder is the same on every machine.

`CORPUS` lists the entries; `write(entry, folder)` writes one folder and returns its row count;
`write_all(root)` writes them all under root/NAME. Standard library, plus scikit-learn for its
tables (the TFX environment has it).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from bench.conformance import kinds
from core import tfrecord
from tests import foreign

REPO = Path(__file__).resolve().parents[2]
SKLEARN = "scikit-learn, BSD-3"
SYNTHETIC = "synthetic"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One dataset of the corpus. `make(folder)` writes its data files and dataset.json and
    returns the number of rows; `params` are the DAG Params it needs beyond the corpus budget
    (a task the data cannot tell, ...)."""

    name: str
    kind: str  # table, signal or image
    format: str  # CSV, TFRecord plain or TFRecord gzip
    task: str  # the task the pipeline should run (checked by the corpus test)
    label_type: str  # text, int, bool, float (few values), float
    source: str  # where the data comes from, and its licence
    make: Callable[[Path], int]
    params: dict = dataclasses.field(default_factory=dict)
    covers: str = ""  # what this entry exercises, for RESULTS.md


def _manifest(folder: Path, label: str, **more) -> None:
    (folder / "dataset.json").write_text(json.dumps({"label": label, **more}) + "\n")


def _csv(folder: Path, name: str, header: list[str], rows: list[list]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return len(rows)


def _num(v) -> int | float:
    """A number as the CSV shows it: whole numbers without a decimal point."""
    v = float(v)
    return int(v) if v.is_integer() else round(v, 6)


def _model(name: str) -> dict:
    return {"registered_model_name": f"conformance_{name}"}


# ---- scikit-learn's bundled tables ------------------------------------------------------------


def _sklearn_table(loader: str, label: str, target: Callable, folder: Path, name: str) -> int:
    from sklearn import datasets

    bunch = getattr(datasets, loader)()
    rows = [
        [*map(_num, x), target(bunch, y)] for x, y in zip(bunch.data, bunch.target, strict=True)
    ]
    n = _csv(folder, f"{name}.csv", [*bunch.feature_names, label], rows)
    _manifest(folder, label, **_model(name))
    return n


def iris(folder: Path) -> int:
    """Text classes (setosa, versicolor, virginica); columns such as `sepal length (cm)`."""
    return _sklearn_table("load_iris", "species", lambda b, y: b.target_names[y], folder, "iris")


def wine(folder: Path) -> int:
    """Integer classes 0/1/2 and a column `od280/od315_of_diluted_wines` (issue 22's first
    failure, exactly)."""
    return _sklearn_table("load_wine", "target", lambda b, y: int(y), folder, "wine")


def breast_cancer(folder: Path) -> int:
    """30 numeric columns (`mean radius`, ...); text classes malignant/benign."""
    return _sklearn_table(
        "load_breast_cancer",
        "diagnosis",
        lambda b, y: b.target_names[y],
        folder,
        "breast_cancer",
    )


def diabetes(folder: Path) -> int:
    """Scaled features (scikit-learn's default) and the progression as a float: a regression
    the task inference finds (more than 20 distinct values)."""
    return _sklearn_table("load_diabetes", "progression", lambda b, y: float(y), folder, "diabetes")


def linnerud(folder: Path) -> int:
    """20 rows: three exercises (Chins, Situps, Jumps) predict the Weight. Whole numbers with
    at most 20 distinct values would be inferred as classes, so the task is set (a Param)."""
    from sklearn.datasets import load_linnerud

    d = load_linnerud()
    rows = [[*map(_num, x), _num(y[0])] for x, y in zip(d.data, d.target, strict=True)]
    n = _csv(folder, "linnerud.csv", [*d.feature_names, "Weight"], rows)
    _manifest(folder, "Weight", **_model("linnerud"))
    return n


def digits(folder: Path) -> int:
    """8x8 images as an int64 array feature `pixels` (0..16) with feature_shapes [8, 8, 1] and
    int64 labels 0..9, in one plain TFRecord file."""
    from sklearn.datasets import load_digits

    d = load_digits()
    examples = [
        {"pixels": ("int64", [int(v) for v in x]), "digit": ("int64", [int(y)])}
        for x, y in zip(d.data, d.target, strict=True)
    ]
    tfrecord.write(str(folder / "digits-00000-of-00001.tfrecord"), examples, gzipped=False)
    _manifest(folder, "digit", feature_shapes={"pixels": [8, 8, 1]}, **_model("digits"))
    return len(examples)


# ---- the repository's own table ---------------------------------------------------------------


def penguins(folder: Path) -> int:
    """The bundled Palmer penguins (text label, text and numeric columns, missing values)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("penguins.csv", "LICENSE.md"):
        shutil.copy(REPO / "data" / "penguins" / name, folder / name)
    _manifest(folder, "species", **_model("penguins"))
    with open(folder / "penguins.csv", newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


# ---- generated (tests/foreign.py and here) ----------------------------------------------------


def _count(folder: Path) -> int:
    return sum(
        sum(1 for _ in tfrecord.records(str(p))) for p in folder.iterdir() if ".tfrecord" in p.name
    )


def signals(folder: Path) -> int:
    """1-D signals (float[40]) with int64 labels in two plain TFRecord files; the dataset.json
    sits beside them."""
    foreign.signals_tfrecords(
        folder, rows=300, gzipped=False, files=2, manifest={"label": "label", **_model("signals")}
    )
    return _count(folder)


def _named(folder: Path, name: str) -> None:
    """Adds the registered model name to the dataset.json tests/foreign.py wrote."""
    path = folder / "dataset.json"
    _manifest(folder, **{**json.loads(path.read_text()), **_model(name)})


def images_png(folder: Path) -> int:
    """8x8 grey PNG bytes (shape read from the PNG header) and text labels, gzipped."""
    foreign.images_tfrecords(folder, rows=180, kind="png", gzipped=True)
    _named(folder, "images_png")
    return _count(folder)


def images_rgb(folder: Path) -> int:
    """8x8x3 float pixel arrays (feature_shapes in the dataset.json) and text labels, gzipped."""
    foreign.images_tfrecords(folder, rows=180, kind="float", gzipped=True, channels=3)
    _named(folder, "images_rgb")
    return _count(folder)


def clinic(folder: Path) -> int:
    """A boolean label (true/false) and columns `Ärztliche Dosis (mg)`, `2nd reading`,
    `ward.code`; no registered name, so the model is named after the folder."""
    foreign.clinic_csv(folder, rows=240)
    _manifest(folder, "readmitted")
    with open(folder / "clinic.csv", newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def wine_like(folder: Path) -> int:
    """An integer label, column names with slashes, spaces, a dot, a leading digit and unicode,
    a text column, missing values here and there."""
    foreign.wine_like_csv(folder, rows=240)
    _manifest(folder, "target", **_model("wine_like"))
    with open(folder / "wine.csv", newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


GRADES = [0.5, 1.5, 2.5]


def grades(folder: Path) -> int:
    """A float label with three values (0.5, 1.5, 2.5) as classes: the task is set and the
    classes are declared in the dataset.json."""
    rng = random.Random(5)
    rows = []
    for i in range(240):
        c = i % 3
        rows.append(
            [round(50 + 15 * c + rng.gauss(0, 6), 1), round(rng.uniform(0, 1), 3), GRADES[c]]
        )
    n = _csv(folder, "grades.csv", ["exam score", "attendance", "grade"], rows)
    _manifest(folder, "grade", classes=GRADES, **_model("grades"))
    return n


def stores(folder: Path) -> int:
    """Regression with an integer categorical feature (`store id`, declared in
    categorical_features: its effect on sales is not monotonic), and a column `promo code`
    that is present in only a few rows (all missing in most of the data)."""
    rng = random.Random(6)
    effect = {1: 30.0, 2: -20.0, 3: 45.0, 4: 0.0, 5: -35.0, 6: 15.0}
    rows = []
    for _ in range(300):
        store = rng.randint(1, 6)
        price = round(rng.uniform(2, 10), 2)
        week = rng.randint(1, 52)
        sold = 120 + effect[store] - 6 * price + 10 * math.sin(week / 52 * 2 * math.pi)
        promo = rng.choice(["SPRING", "FALL"]) if rng.random() < 0.03 else ""
        rows.append([store, price, week, promo, round(sold + rng.gauss(0, 4), 2)])
    header = ["store id", "price (EUR)", "week", "promo code", "units sold"]
    n = _csv(folder, "stores.csv", header, rows)
    _manifest(folder, "units sold", categorical_features=["store id"], **_model("stores"))
    return n


def sensors(folder: Path) -> int:
    """A TFRecord table of scalars (float, int64 and text features) with a float regression
    label, gzipped, in three files."""
    rng = random.Random(7)
    examples = []
    for _ in range(300):
        site = rng.choice(["roof", "cellar", "hall"])
        hour = rng.randint(0, 23)
        humidity = rng.uniform(20, 90)
        base = {"roof": 12.0, "cellar": 8.0, "hall": 20.0}[site]
        temp = base + 6 * math.sin((hour - 8) / 24 * 2 * math.pi) - 0.05 * humidity
        examples.append(
            {
                "site": ("bytes", [site.encode()]),
                "hour": ("int64", [hour]),
                "humidity": ("float", [humidity]),
                "temperature": ("float", [temp + rng.gauss(0, 0.5)]),
            }
        )
    for k in range(3):
        name = f"sensors-{k:05d}-of-00003.tfrecord.gz"
        tfrecord.write(str(folder / name), examples[k::3], gzipped=True)
    _manifest(folder, "temperature", **_model("sensors"))
    return len(examples)


def _entry(name, kind, fmt, task, label_type, source, make, covers, params=None) -> Entry:
    return Entry(name, kind, fmt, task, label_type, source, make, params or {}, covers)


C, R = "classification", "regression"
CSV, PLAIN, GZIP, PARQUET, PG = "CSV", "TFRecord plain", "TFRecord gzip", "Parquet", "PostgreSQL"
CORPUS: list[Entry] = [
    _entry("iris", "table", CSV, C, "text", SKLEARN, iris, "text classes; names with spaces"),
    _entry("wine", "table", CSV, C, "int", SKLEARN, wine, "int classes; a name with a slash"),
    _entry("breast_cancer", "table", CSV, C, "text", SKLEARN, breast_cancer, "30 columns"),
    _entry("digits", "image", PLAIN, C, "int", SKLEARN, digits, "int array [8,8,1]; 10 classes"),
    _entry("diabetes", "table", CSV, R, "float", SKLEARN, diabetes, "regression inferred"),
    _entry(
        "linnerud", "table", CSV, R, "float", SKLEARN, linnerud, "20 rows; task set", {"task": R}
    ),
    _entry(
        "penguins",
        "table",
        CSV,
        C,
        "text",
        "data/penguins, CC0",
        penguins,
        "text features, missing values",
    ),
    _entry("signals", "signal", PLAIN, C, "int", SYNTHETIC, signals, "float[40]; 2 files"),
    _entry("images_png", "image", GZIP, C, "text", SYNTHETIC, images_png, "PNG bytes 8x8x1"),
    _entry("images_rgb", "image", GZIP, C, "text", SYNTHETIC, images_rgb, "float array [8,8,3]"),
    _entry("clinic", "table", CSV, C, "bool", SYNTHETIC, clinic, "messy names; no model name"),
    _entry("wine_like", "table", CSV, C, "int", SYNTHETIC, wine_like, "messy names; missing"),
    _entry(
        "grades",
        "table",
        CSV,
        C,
        "float (few values)",
        SYNTHETIC,
        grades,
        "declared classes; task set",
        {"task": C},
    ),
    _entry("stores", "table", CSV, R, "float", SYNTHETIC, stores, "int categorical; sparse col"),
    _entry("sensors", "table", GZIP, R, "float", SYNTHETIC, sensors, "TFRecord scalars; 3 files"),
    # The data users really have (bench/conformance/kinds.py): judged on fresh rows too.
    _entry("events", "table", CSV, C, "text", SYNTHETIC, kinds.maker("events"), "time; an ID"),
    _entry(
        "parquet_vectors",
        "signal",
        PARQUET,
        C,
        "int",
        SYNTHETIC,
        kinds.maker("parquet_vectors"),
        "a list<float> column; 2 files",
    ),
    _entry("tickets", "table", CSV, C, "text", SYNTHETIC, kinds.maker("tickets"), "free text"),
    _entry("notes", "table", CSV, C, "text", SYNTHETIC, kinds.maker("notes"), "text only"),
    _entry(
        "customers",
        "table",
        PG,
        C,
        "int",
        SYNTHETIC,
        kinds.maker("customers"),
        "a PostgreSQL table; a timestamp",
        {"label": "churned"},
    ),
]
BY_NAME = {e.name: e for e in CORPUS}


def write(entry: Entry, folder: Path) -> int:
    """Writes `entry`'s folder afresh (anything there before is removed); its row count."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return entry.make(folder)


def write_all(root: Path) -> dict[str, int]:
    """Every entry under root/NAME; {name: rows}."""
    return {e.name: write(e, root / e.name) for e in CORPUS}
