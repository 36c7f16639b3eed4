"""The settings contract (core/settings.py): stdlib-only on both sides, the pipeline's Settings
derived from it (fields, defaults, rules), the engine's knobs as settings, and the docs' settings
reference generated from it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from core import settings as contract
from core.envs import AIRFLOW_PYTHON
from nas import knobs
from nas.config import SearchConfig
from pipelines.settings import REPO, Settings
from tests.commands import last_json

HEAVY = ("keras", "keras_tuner", "tensorflow", "tfx", "numpy", "mlflow", "airflow")
LOADED = f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"


def loaded_after(python: str, statement: str) -> list[str]:
    return last_json(
        [python, "-c", f"import json, sys; {statement}; {LOADED}"],
        timeout=300,
    )


@pytest.mark.parametrize("python", [sys.executable, str(AIRFLOW_PYTHON)], ids=["tfx", "airflow"])
def test_the_contract_imports_nothing_heavy(python):
    assert loaded_after(python, "import core.settings") == []


def test_the_import_check_can_fail():
    assert loaded_after(sys.executable, "import core.settings, numpy") == ["numpy"]


def test_settings_fields_are_the_contract_s_pipeline_settings():
    fields = dataclasses.fields(Settings)
    assert [f.name for f in fields] == [s.name for s in contract.pipeline_settings()]
    assert "executor" in contract.SETTINGS and "executor" not in {f.name for f in fields}
    assert "nas" not in {f.name for f in fields}


def test_settings_defaults_equal_the_contract_s(monkeypatch):
    monkeypatch.delenv("RETRAIN_BEAM_ARGS", raising=False)
    s = Settings()
    for f in dataclasses.fields(Settings):
        assert f.default_factory() == contract.SETTINGS[f.name].default, f.name
        if f.name not in ("label", "registered_model_name"):  # empty: dataset.json's names
            assert getattr(s, f.name) == contract.SETTINGS[f.name].default, f.name
    assert (s.label, s.registered_model_name) == ("species", "penguin_classifier")
    assert (s.mode, s.max_trials, s.curve_stop, s.inherit_weights) == ("warm", 3, True, True)
    assert s.time_budget_min == 30


def test_a_param_left_as_it_is_gives_the_pipeline_s_default(monkeypatch):
    """What the DAG sends for each untouched Param (null is dropped) is the Settings default."""
    monkeypatch.delenv("RETRAIN_BEAM_ARGS", raising=False)
    default = Settings()
    for s in contract.params():
        value = s.param()["default"]
        if s.scope != "pipeline" or value is None:
            continue
        given = Settings.from_json(json.dumps({s.name: value}))
        assert getattr(given, s.name) == getattr(default, s.name), s.name


def test_the_beam_default_is_the_operator_s(monkeypatch):
    monkeypatch.setenv("RETRAIN_BEAM_ARGS", '["--direct_num_workers=0"]')
    assert contract.SETTINGS["beam_pipeline_args"].param()["default"] == ["--direct_num_workers=0"]
    assert Settings().beam_pipeline_args == ("--direct_num_workers=0",)
    monkeypatch.setenv("RETRAIN_BEAM_ARGS", "")
    assert Settings().beam_pipeline_args == ()


def test_every_engine_knob_is_a_setting_with_the_engine_s_default():
    for name, field in knobs.declared(SearchConfig).items():
        s = contract.SETTINGS[name]
        assert s.engine and s.doc == field.metadata["doc"], name
        default = knobs.default_of(field)
        assert s.default == ({} if name == "search_fidelity" else default), name
        assert s.choices == field.metadata["choices"], name
    assert set(contract.ENGINE) == set(knobs.declared(SearchConfig))
    assert SearchConfig.from_dict(Settings().search_config()) == SearchConfig()


def test_operator_engine_knobs_reach_the_search():
    s = Settings.from_json(
        json.dumps(
            {
                "latency": "tflite",
                "max_latency_ms": 0.05,
                "halving_rungs": [2, 4],
                "strategy_options": {"population_size": 5},
                "input_overrides": {"pixels_xf": {"shape": [8, 8]}},
                "baseline_module": "examples/baseline_model.py",
            }
        )
    )
    raw = s.search_config("regression")
    assert raw["baseline_module"] == str(REPO / "examples" / "baseline_model.py")
    cfg = SearchConfig.from_json(json.dumps(raw))
    assert (cfg.task, cfg.latency, cfg.max_latency_ms) == ("regression", "tflite", 0.05)
    assert cfg.halving_rungs == (2, 4) and cfg.strategy_options == {"population_size": 5}
    assert cfg.input_overrides == {"pixels_xf": {"shape": [8, 8]}}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"seed": 0}, "seed=0 must be >= 1"),
        ({"parallel_trials": 65}, "parallel_trials=65 must be <= 64"),
        ({"parallel_trials": 1.5}, "parallel_trials=1.5 is not an integer"),
        ({"search_fidelity": {"width": 2}}, "search_fidelity.width=2 must be <= 1"),
        ({"search_fidelity": {"epoch": 3}}, r"search_fidelity: unknown key\(s\) \['epoch'\]"),
        ({"beam_pipeline_args": ["runner=Flink"]}, r"beam_pipeline_args\[0\]"),
        ({"mixed_precision": "sometimes"}, "mixed_precision='sometimes' is not one of"),
        ({"mode": "lukewarm"}, "mode='lukewarm' is not one of"),
        ({"explain": "yes"}, "explain='yes' is not a boolean"),
        ({"time_budget_min": 0}, "time_budget_min=0 must be > 0"),
        ({"nas": {"patience": 4}}, "unknown setting.*'nas'.*settings of their own"),
    ],
)
def test_the_contract_s_rules_hold_in_the_pipeline(bad, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_json(json.dumps(bad))


SETTINGS_PAGE = REPO / "docs" / "reference" / "settings.md"


def docs_hooks():
    """docs/hooks.py, the docs build's hook, loaded by path (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_missing_from(page: str) -> list[str]:
    """The contract's settings that have no row in the rendered page's tables."""
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", docs_hooks().render(page), re.M))
    return sorted(set(contract.SETTINGS) - rows)


def test_the_markdown_command_prints_the_params_table():
    out = subprocess.run(
        [sys.executable, "-m", "core.settings", "--markdown"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert out.stdout.strip() == contract.markdown_table(contract.params(), "Param", str(REPO))
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        f"| `{s.name}`" for s in contract.params()
    ]


def test_the_settings_reference_page_lists_every_setting():
    page = SETTINGS_PAGE.read_text()
    assert settings_missing_from(page) == [], (
        "docs/reference/settings.md lacks these settings: give it back its "
        "`<!-- generated: params -->` and `<!-- generated: operator-settings -->` lines"
    )
    # The check can fail: without the operator's table, the operator's settings are missing.
    without = page.replace("<!-- generated: operator-settings -->", "")
    assert "metadata_path" in settings_missing_from(without)
    assert docs_hooks().render("<!-- generated: params -->") == contract.markdown_table(
        contract.params(), "Param", str(REPO)
    )


# ---- dataset definitions (core/datasets.py) and the registered model's name ----------------


@pytest.mark.parametrize("python", [sys.executable, str(AIRFLOW_PYTHON)], ids=["tfx", "airflow"])
def test_the_dataset_definitions_import_nothing_heavy(python):
    assert loaded_after(python, "import core.datasets") == []


def test_a_folder_without_a_name_registers_under_its_own_name(tmp_path):
    """Setting > the folder's dataset.json > the folder's name: never another dataset's model."""
    folder = tmp_path / "Ärztliche Daten 2"
    folder.mkdir()
    (folder / "rows.csv").write_text("dose,species\n1,a\n")
    assert Settings(data=str(folder)).registered_model_name == "arztliche_daten_2"
    assert Settings(data=str(folder), registered_model_name="mine").registered_model_name == "mine"
    (folder / "dataset.json").write_text('{"registered_model_name": "clinic"}')
    assert Settings(data=str(folder)).registered_model_name == "clinic"
    assert Settings(data="data/penguins").registered_model_name == "penguin_classifier"
    assert Settings(data="data/diabetes").registered_model_name == "diabetes_regressor"


def test_an_sqlite_store_keeps_its_artifacts_beside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    derived = Settings(metadata_path=str(tmp_path / "m.sqlite")).tracking()
    assert derived == (f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "mlartifacts"))
    shared = Settings(
        metadata_path=str(tmp_path / "datasets" / "x" / "m.sqlite"),
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    assert shared.tracking() == derived
    server = Settings(mlflow_tracking_uri="http://mlflow:5000").tracking()
    assert server == ("http://mlflow:5000", "")


@pytest.mark.parametrize("name", ["penguins", "diabetes"])
def test_a_bundled_definition_gives_valid_pipeline_settings_of_its_own(name, tmp_path):
    """What a dataset's DAG hands the pipeline (its Params' defaults, the deployment's paths,
    the definition) passes the pipeline's own checks, with its own name, state and model."""
    from core import datasets

    d = datasets.load(REPO / "datasets" / f"{name}.json")
    params = {s.name: s.param()["default"] for s in contract.params() if s.scope == "pipeline"}
    params.update((k, v) for k, v in d.params.items() if k != "executor")
    base = {k: v for k, v in params.items() if v is not None}
    base.update(pipeline_root=str(tmp_path / "pipeline_root"))
    base.update(metadata_path=str(tmp_path / "metadata.sqlite"), mlflow_tracking_uri="")
    s = Settings.from_json(json.dumps(d.pipeline_settings(base)))
    assert (s.pipeline_name, s.nas_experiment, s.data_experiment) == (
        name,
        f"{name}-nas",
        f"{name}-data",
    )
    assert s.pipeline_root == str(tmp_path / "datasets" / name / "pipeline_root")
    assert s.metadata_path == str(tmp_path / "datasets" / name / "metadata.sqlite")
    assert s.tracking()[0] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s.registered_model_name == {"penguins": "penguin_classifier"}.get(
        name, "diabetes_regressor"
    )
    assert s.resolved_task()[0] == {"penguins": "classification"}.get(name, "regression")
