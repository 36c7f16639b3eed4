"""Dataset definitions (datasets/NAME.json, core/datasets.py): each gives its own pair of DAGs
with its own schedule, Asset, Param defaults, pipeline name, state directory and registered
model; a bad one breaks only its own DAGs, with an import error naming the file and the field.
No DAG runs: the DAGs are parsed and check_params's function is called directly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.airflow.conftest import DAGS, REPO

PAIRS = {
    "penguins": ("retrain_penguins", "retrain_penguins_on_data"),
    "diabetes": ("retrain_diabetes", "retrain_diabetes_on_data"),
}


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    b = DagBag(dag_folder=str(DAGS))
    assert b.import_errors == {}, b.import_errors
    return b


def settings_of(dag, events=None, **params) -> dict:
    """What check_params hands to the nodes (its function, called outside a run)."""
    values = {**dag.params.validate(), **params}
    run = SimpleNamespace(dag_id=dag.dag_id, run_id="manual__test")
    check = dag.get_task("check_params").python_callable
    return check(params=values, dag_run=run, triggering_asset_events=events or {})


def events_for(*uris: str) -> dict:
    """The shape of Airflow 3's `triggering_asset_events`: Asset -> its events."""
    from airflow.sdk import Asset

    return {Asset(uri=u): [SimpleNamespace(asset=SimpleNamespace(uri=u))] for u in uris}


def test_two_definitions_give_two_dag_pairs(bag):
    from retrain_support import builder

    for name, (scheduled, on_data) in PAIRS.items():
        assert {scheduled, on_data} <= set(bag.dag_ids), name
        assert bag.dags[scheduled].fileloc == bag.dags[on_data].fileloc
        assert Path(bag.dags[scheduled].fileloc) == DAGS / "datasets" / f"{name}.py"
    assert bag.dags["retrain_penguins"].timetable.expression in ("@weekly", "0 0 * * 0")
    assert bag.dags["retrain_diabetes"].timetable.expression == "0 3 * * 1"
    penguins = bag.dags["retrain_penguins_on_data"].timetable.asset_condition
    diabetes = bag.dags["retrain_diabetes_on_data"].timetable.asset_condition
    for objects, name in ((penguins.objects, "penguins"), (diabetes.objects, "diabetes")):
        uri = (REPO / "data" / name).as_uri()
        assert [(a.name, a.uri) for a in objects] == [(uri, uri)]
    # The generic retrain_on_data listens to its own Asset, no bundled dataset's folder.
    generic = bag.dags["retrain_on_data"].timetable.asset_condition
    assert [(a.name, a.uri) for a in generic.objects] == [("retrain_data", builder.DATA_URI)]
    assert builder.DATA_URI == (REPO / "data" / "incoming").as_uri()


def assets_of(dag) -> set[str]:
    """The URIs of the Assets whose events start `dag`."""

    def uris(condition) -> set[str]:  # an Asset, or AssetAll/AssetAny of conditions
        if hasattr(condition, "uri"):
            return {condition.uri}
        return set().union(*(uris(c) for c in getattr(condition, "objects", ())))

    return uris(getattr(dag.timetable, "asset_condition", None))


def test_an_event_on_a_bundled_folder_starts_one_dag(bag):
    """An event on the penguins folder's Asset started retrain_on_data too (its default Asset
    was that folder), and both registered penguin_classifier, from two stores."""
    for name in ("penguins", "diabetes"):
        uri = (REPO / "data" / name).as_uri()
        listeners = [dag_id for dag_id, dag in sorted(bag.dags.items()) if uri in assets_of(dag)]
        assert listeners == [f"retrain_{name}_on_data"], (name, listeners)


def test_param_defaults_are_the_definitions(bag):
    penguins = bag.dags["retrain_penguins"].params
    diabetes = bag.dags["retrain_diabetes_on_data"].params
    assert (penguins["data"], penguins["label"], penguins["task"]) == (
        "data/penguins",
        "species",
        "classification",
    )
    assert (diabetes["data"], diabetes["label"], diabetes["task"]) == (
        "data/diabetes",
        "progression",
        "regression",
    )
    assert list(penguins) == list(bag.dags["retrain"].params)  # the same Params, other defaults


def test_every_dataset_dag_s_param_defaults_are_valid_under_the_contract(bag):
    from core import settings as contract

    dataset_dags = [d for d in bag.dag_ids if d.startswith("retrain_") and d != "retrain_on_data"]
    assert len(dataset_dags) >= 4
    for dag_id in dataset_dags:
        values = bag.dags[dag_id].params.validate()  # Airflow's check (jsonschema)
        for name, value in values.items():
            if value is not None:
                assert contract.SETTINGS[name].problems(value) == [], (dag_id, name)


@pytest.mark.parametrize("dag_id", ["retrain_penguins", "retrain_diabetes_on_data"])
def test_each_dataset_has_its_own_pipeline_state_and_model(bag, dag_id):
    from retrain_support import builder

    name = dag_id.split("_")[1]
    s = settings_of(bag.dags[dag_id])
    state = builder.STATE_DIR / "datasets" / name
    assert s["pipeline_name"] == name  # its ML Metadata contexts, NAME-nas and NAME-data
    assert s["pipeline_root"] == str(state / "pipeline_root")
    assert s["metadata_path"] == str(state / "metadata.sqlite")
    assert s["registered_model_name"] == {"penguins": "penguin_classifier"}.get(
        name, "diabetes_regressor"
    )
    assert s["lineage"] == {"airflow_dag_id": dag_id, "airflow_run_id": "manual__test"}
    # One MLflow store for every dataset: the one the generic DAGs use when none is set.
    assert s["mlflow_tracking_uri"] == f"sqlite:///{builder.STATE_DIR / 'mlflow.db'}"


def test_the_generic_dag_s_settings_are_unchanged(bag):
    from retrain_support import builder

    s = settings_of(bag.dags["retrain_on_data"])
    assert "pipeline_name" not in s and s["data"] == "data/penguins"
    assert s["pipeline_root"] == str(builder.STATE_DIR / "pipeline_root")
    assert s["mlflow_tracking_uri"] == ""


def test_an_operator_s_model_name_is_not_every_dataset_s(bag, monkeypatch):
    monkeypatch.setenv(
        "RETRAIN_SETTINGS", json.dumps({"registered_model_name": "one", "max_trials": 2})
    )
    assert settings_of(bag.dags["retrain"])["registered_model_name"] == "one"
    s = settings_of(bag.dags["retrain_penguins"])
    assert (s["registered_model_name"], s["max_trials"]) == ("penguin_classifier", 2)


@pytest.mark.parametrize("dag_id", ["retrain_penguins_on_data", "retrain_on_data"])
def test_an_asset_triggered_run_trains_on_the_asset_s_folder(bag, tmp_path, dag_id):
    folder = tmp_path / "new penguins"
    folder.mkdir()
    shutil.copy(REPO / "data" / "penguins" / "penguins.csv", folder)
    s = settings_of(bag.dags[dag_id], events_for(folder.as_uri()))
    assert s["data"] == str(folder)
    assert settings_of(bag.dags[dag_id])["data"] == "data/penguins"  # manual: the Param


def test_an_asset_that_is_not_a_file_uri_is_a_clear_error(bag):
    with pytest.raises(ValueError, match=r"Asset that triggered this run: 's3://b/k' is not a"):
        settings_of(bag.dags["retrain_diabetes_on_data"], events_for("s3://b/k"))


def test_asset_uri_to_data():
    from core.datasets import data_of_asset

    folder = Path("/srv/data/Ärzte und 2nd reading")
    assert data_of_asset(folder.as_uri()) == str(folder)
    assert data_of_asset("file://localhost/srv/x") == "/srv/x"
    assert data_of_asset("file:///srv/a%20b/") == "/srv/a b/"
    for bad in ("s3://bucket/key", "file://otherhost/srv/x", "/srv/x", "file://", "retrain_data"):
        with pytest.raises(ValueError, match="not a file:// URI"):
            data_of_asset(bad)


def test_a_definition_may_name_a_postgresql_table_inside_the_allowed_roots(tmp_path, monkeypatch):
    """`"data": "postgresql://..."` in datasets/NAME.json: the same trust boundary as the Param
    (a URI prefix among the operator's allowed_roots), the label named, an Asset Airflow's
    postgres provider accepts; an Asset-triggered run reads the table, whatever fired."""
    from retrain_support import builder

    from core import datasets

    uri = "postgresql://etl@db.internal:5433/sales?table=crm.customers"
    raw = {"data": uri, "label": "churned", "schedule": "@daily"}
    monkeypatch.delenv("RETRAIN_SETTINGS", raising=False)
    monkeypatch.delenv("RETRAIN_ALLOWED_ROOTS", raising=False)
    with pytest.raises(datasets.DatasetError) as refused:
        datasets.parse(tmp_path / "shop.json", raw)
    assert str(refused.value).startswith(
        f"{tmp_path / 'shop.json'}: field 'data': {uri} is outside the allowed roots (no "
        "postgresql:// root); an operator adds a URI prefix"
    )
    monkeypatch.setenv("RETRAIN_ALLOWED_ROOTS", '[".", "postgresql://etl@db.internal:5433/sales"]')
    shop = datasets.parse(tmp_path / "shop.json", raw)
    assert shop.source and shop.data == shop.params["data"] == uri
    assert shop.params["label"] == "churned"
    assert shop.asset == "postgres://db.internal:5433/sales/crm/customers"
    assert builder.data_asset(shop.asset).uri == shop.asset  # Airflow's own check of the URI
    events = events_for("postgres://db.internal:5433/sales/crm/customers")
    assert builder.triggering_data(events, shop) is None  # the run reads the table
    # RETRAIN_SETTINGS's allowed_roots win over $RETRAIN_ALLOWED_ROOTS, as for the Param.
    monkeypatch.setenv("RETRAIN_SETTINGS", '{"allowed_roots": ["postgresql://etl@other:5432"]}')
    with pytest.raises(datasets.DatasetError, match="outside the allowed roots"):
        datasets.parse(tmp_path / "shop.json", raw)
    monkeypatch.delenv("RETRAIN_SETTINGS")
    cases = {
        "refused (it would be logged)": {**raw, "data": uri.replace("etl@", "etl:pw@")},
        "field 'label': missing: name the label here": {"data": uri},
        "field 'asset': missing: a postgresql:// query names": {
            "data": "postgresql://etl@db.internal:5433/sales?query=SELECT%201",
            "label": "churned",
        },
    }
    for problem, bad in cases.items():
        with pytest.raises(datasets.DatasetError, match=re.escape(problem)):
            datasets.parse(tmp_path / "shop.json", bad)
    query = {**cases["field 'asset': missing: a postgresql:// query names"], "asset": "x://q"}
    assert datasets.parse(tmp_path / "shop.json", query).asset == "x://q"


def test_registered_model_name_fallback_is_the_folder_s_name():
    from core.datasets import model_name_for

    assert model_name_for("/data/penguins0") == "penguins0"
    assert model_name_for("/data/Ärztliche Daten (2024)/") == "arztliche_daten_2024"
    assert model_name_for("/data/wine.v2") == "wine_v2"
    assert model_name_for("/data/***") == "model"


def test_every_definition_has_its_loader_and_every_loader_its_definition(tmp_path):
    from core import datasets

    names = {p.stem for p in (REPO / "datasets").glob("*.json")}
    loaders = {p.stem for p in (DAGS / "datasets").glob("*.py")}
    assert names == loaders, "run `python -m core.datasets --sync`"
    for path in (DAGS / "datasets").glob("*.py"):
        assert path.read_text() == datasets.LOADER, f"{path} differs from core.datasets.LOADER"
    # sync writes the missing and removes the orphaned (only its own files).
    defs, out = tmp_path / "defs", tmp_path / "loaders"
    defs.mkdir()
    out.mkdir()
    (defs / "wine.json").write_text('{"data": "data/wine"}')
    (out / "gone.py").write_text(datasets.LOADER)
    (out / "mine.py").write_text("# a hand-written DAG file\n")
    assert len(datasets.sync(defs, out)) == 2
    assert sorted(p.name for p in out.iterdir()) == ["mine.py", "wine.py"]


# ---- bad definitions break only their own DAGs ------------------------------------------

GOOD = {"data": "data/penguins", "label": "species", "max_trials": 2, "schedule": "none"}
BAD = {
    "unknown": ({**GOOD, "max_trail": 2}, "max_trail", "did you mean 'max_trials'"),
    "bad_value": ({**GOOD, "max_trials": 0}, "max_trials", "must be >= 1"),
    "bad_choice": ({**GOOD, "task": "ranking"}, "task", "is not one of"),
    "bad_json": ('{"data": "data/penguins",}', None, "not valid JSON"),
    "bad_cron": ({**GOOD, "schedule": "61 * * * *"}, "schedule", "out of range"),
    "bad_preset": ({**GOOD, "schedule": "@fortnightly"}, "schedule", "is not one of"),
    "per_dataset": ({**GOOD, "pipeline_name": "x"}, "pipeline_name", "not allowed"),
    "no_data": ({"label": "species"}, "data", "required"),
    "bad_data": ({"data": "s3://bucket/penguins"}, "data", "not a file:// URI"),
    "no_label": ({"data": "examples"}, "label", "name the label here or in the data folder"),
    "bad_asset": ({**GOOD, "asset": "airflow://x"}, "asset", "reserved"),
}


@pytest.fixture(scope="module")
def bad_bag(tmp_path_factory):
    """A DagBag over a dags folder of loaders, one good definition and every bad kind."""
    from airflow.dag_processing.dagbag import DagBag

    from core import datasets

    root = tmp_path_factory.mktemp("datasets")
    defs, dags = root / "defs", root / "dags"
    defs.mkdir()
    (defs / "good.json").write_text(json.dumps(GOOD))
    for name, (raw, _, _) in BAD.items():
        (defs / f"{name}.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    datasets.sync(defs, dags)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(datasets.ENV, str(defs))
        bag = DagBag(dag_folder=str(dags))
    return bag, defs, dags


def test_a_good_definition_beside_bad_ones_keeps_its_dags(bad_bag):
    bag, _, _ = bad_bag
    assert sorted(bag.dag_ids) == ["retrain_good", "retrain_good_on_data"]
    assert bag.dags["retrain_good"].timetable.__class__.__name__ == "NullTimetable"
    assert bag.dags["retrain_good"].params["max_trials"] == 2


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_definition_breaks_only_its_dags_naming_file_and_field(bad_bag, name):
    bag, defs, dags = bad_bag
    _, field, why = BAD[name]
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert set(errors) == {f"{n}.py" for n in BAD}, errors.keys()
    last = errors[f"{name}.py"].strip().splitlines()[-1]
    assert f"{defs / name}.json" in last, last
    if field:
        assert f"field {field!r}" in last, last
    assert why in last, last


def test_a_loader_without_its_definition_names_the_missing_file(tmp_path, monkeypatch):
    from core import datasets

    monkeypatch.setenv(datasets.ENV, str(tmp_path))
    with pytest.raises(datasets.DatasetError, match=r"gone\.json: no such dataset definition"):
        datasets.named("gone")
