"""The DAG files import cleanly in the Airflow environment and never import the TFX stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow.conftest import DAGS

# Modules that must stay in the pipeline environment: importing them from a DAG file would
# drag TFX's protobuf/numpy pins into Airflow's process.
FORBIDDEN = {"tfx", "tensorflow", "tensorflow_transform", "tensorflow_model_analysis", "keras"}


def imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def dag_files() -> list[Path]:
    return sorted(DAGS.rglob("*.py"))


def test_dags_folder_has_python_files():
    assert dag_files(), f"no Python files under {DAGS}"


@pytest.mark.parametrize("path", dag_files(), ids=lambda p: str(p.relative_to(DAGS)))
def test_dag_file_does_not_import_tfx_stack(path):
    bad = imported_top_modules(path) & FORBIDDEN
    assert not bad, f"{path} imports {sorted(bad)}; DAG files must not import the TFX stack"


def test_import_check_catches_tfx_import(tmp_path):
    # The check above must be able to fail: a file importing tfx in any form is caught.
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom tfx.v1 import dsl\nimport tensorflow as tf\n")
    assert imported_top_modules(sample) & FORBIDDEN == {"tfx", "tensorflow"}


def test_dagbag_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}, f"DAG import errors: {bag.import_errors}"
    assert "retrain" in bag.dag_ids
    # One pair per dataset definition (datasets/NAME.json, one loader each in dags/datasets/).
    assert {"retrain_penguins", "retrain_diabetes_on_data"} <= set(bag.dag_ids)


def test_the_dag_s_repository_imports_stay_light(tmp_path):
    """The DAG imports the settings contract (core/settings.py) and the engine declarations it
    reads, finding them from its own path (not the working directory); importing the DAG loads
    none of the TFX stack, Keras, numpy or MLflow."""
    heavy = sorted(FORBIDDEN | {"keras_tuner", "numpy", "mlflow"})
    code = (
        f"import sys; sys.path.insert(0, {str(DAGS)!r}); import retrain; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('core', 'nas')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded, ours = out.stdout.strip().splitlines()[-2:]
    assert loaded == "[]", f"importing the DAG loaded {loaded}"
    assert "core.settings" in ours, ours
