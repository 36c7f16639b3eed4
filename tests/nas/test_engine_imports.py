"""The engine (`nas/`) is a library apart from the pipeline: it imports only the standard
library, Keras 3, KerasTuner, numpy and itself, never TensorFlow, TFX, the pipeline's
components, core or pipelines, nor MLflow; and KerasTuner's internals (`keras_tuner.src`) only
through its one adapter module, nas/kt_private.py."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "nas"
ALLOWED = {"keras", "keras_tuner", "numpy", "nas", "__future__"}
# Third-party modules allowed in one engine file only.
ONLY_IN = {"grpc": "nas/kt_private.py", "jax": "nas/device.py", "torch": "nas/device.py"}
FORBIDDEN = {"tensorflow", "tfx", "components", "core", "pipelines", "mlflow"}
PRIVATE = "keras_tuner.src"
PRIVATE_ADAPTER = "nas/kt_private.py"
STDLIB = set(sys.stdlib_module_names)


def is_private(module: str) -> bool:
    return module == PRIVATE or module.startswith(PRIVATE + ".")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in `source`: module level, inside functions and
    classes, and `importlib.import_module` / `__import__` calls with a literal name. Relative
    imports are the engine's own ("nas")."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append((node.lineno, "nas"))
                continue
            # `from keras_tuner import src` reaches the internals too: name them so
            inner = [
                f"{node.module}.{a.name}"
                for a in node.names
                if is_private(f"{node.module}.{a.name}")
            ]
            out.append((node.lineno, inner[0] if inner else node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                out.append((node.lineno, str(arg.value)))
    return out


def violations(source: str, path: str) -> list[str]:
    """What in `source` (the file `path`, relative to the repository) breaks the engine's
    import rules."""
    problems = []
    for line, module in imported_modules(source):
        top = module.split(".")[0]
        where = f"{path}:{line} imports {module}"
        if top in FORBIDDEN:
            problems.append(f"{where}: the engine never imports {top}")
        elif top in ONLY_IN:
            if path != ONLY_IN[top]:
                problems.append(f"{where}: {top} belongs in {ONLY_IN[top]} only")
        elif top not in ALLOWED and top not in STDLIB:
            problems.append(f"{where}: not the standard library, keras, keras_tuner or numpy")
        if is_private(module) and path != PRIVATE_ADAPTER:
            problems.append(f"{where}: KerasTuner's internals go through {PRIVATE_ADAPTER}")
    return problems


def engine_files() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def test_the_engine_imports_only_keras_keras_tuner_numpy_and_the_standard_library():
    files = engine_files()
    assert len(files) > 30 and (ENGINE / "kt_private.py") in files
    problems = []
    for f in files:
        problems += violations(f.read_text(), f.relative_to(REPO).as_posix())
    assert not problems, "\n".join(problems)


def test_keras_tuner_internals_are_reached_through_one_module():
    users = [
        f.relative_to(REPO).as_posix()
        for f in engine_files()
        if any(is_private(m) for _, m in imported_modules(f.read_text()))
    ]
    assert users == [PRIVATE_ADAPTER]


def test_the_checker_catches_each_kind_of_violation():
    sample = """
import os
import keras
from . import task
import tensorflow as tf

def lazy():
    from core.tflite import model_latency_ms
    import mlflow
    import grpc
    import importlib
    importlib.import_module("tfx.types")
    return __import__("components.nas_tuner")

class Hidden:
    def method(self):
        from keras_tuner.src.engine import trial
        from keras_tuner import src
        import pandas
"""
    found = violations(sample, "nas/runner.py")
    expected = [
        ("5", "tensorflow"),
        ("8", "core.tflite"),
        ("9", "mlflow"),
        ("10", "grpc"),
        ("12", "tfx.types"),
        ("13", "components.nas_tuner"),
        ("17", "keras_tuner.src.engine"),
        ("18", "keras_tuner.src"),
        ("19", "pandas"),
    ]
    for line, module in expected:
        assert any(f"nas/runner.py:{line} imports {module}" in p for p in found), (module, found)
    assert len(found) == len(expected), found
    # the same imports are fine where they belong
    assert violations("import grpc\nfrom keras_tuner.src import protos\n", PRIVATE_ADAPTER) == []
    assert violations("def f():\n    import torch\n", "nas/device.py") == []


def test_importing_every_engine_module_loads_no_pipeline_code():
    """At run time too: no TFX, MLflow or pipeline module comes in with the engine. (TensorFlow
    does, as Keras' backend here: Keras 3.6's numpy backend needs JAX, which this environment
    lacks, so the engine cannot be imported without a TensorFlow, JAX or PyTorch backend.)"""
    pipeline = sorted(FORBIDDEN - {"tensorflow"})
    code = (
        "import importlib, pkgutil, sys, nas\n"
        "for m in pkgutil.walk_packages(nas.__path__, 'nas.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {pipeline})\n"
        "print('loaded:', bad)\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "loaded: []" in out.stdout
