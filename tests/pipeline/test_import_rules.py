"""Who may import whom, read from the source (module-level and lazy imports alike):

- a component package (`components/<name>/`) imports no other component package and nothing
  from `pipelines` or `dags`: what components share lives in `core/` (or the engine, `nas/`);
- `core/` imports no component package and nothing from `pipelines` or `dags`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

APPLICATION = ("pipelines", "dags")
COMPONENTS = sorted(
    p.name for p in (REPO / "components").iterdir() if p.is_dir() and any(p.glob("*.py"))
)


def imported(source: str, package: str):
    """(module, line) for each import in `source`, a module of `package` (dotted): `import`,
    `from ... import` (each imported name as a possible submodule, relative imports resolved)
    and importlib.import_module / __import__ of a literal name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call) and node.args:
            f, arg = node.func, node.args[0]
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                yield str(arg.value), node.lineno


def broken_rules(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of `module` (dotted name; `is_package` for an __init__.py) that break the
    rules above, as 'line N: imports X'."""
    parts = module.split(".")
    package = module if is_package else ".".join(parts[:-1])
    found = []
    for name, line in imported(source, package):
        target = name.split(".")
        if parts[0] == "components" and len(parts) > 1:
            other = target[0] == "components" and len(target) > 1 and target[1] != parts[1]
            bad = other or target[0] in APPLICATION
        elif parts[0] == "core":
            bad = target[0] in ("components", *APPLICATION)
        else:
            bad = False
        if bad:
            found.append(f"line {line}: imports {name}")
    return sorted(set(found))


def scan(folder) -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parent.parts if is_package else rel.parts)
        broken = broken_rules(module, path.read_text(), is_package)
        if broken:
            out[str(path.relative_to(REPO))] = broken
    return out


def test_the_checker_catches_violations():
    executor = "components.data_validator.executor"
    lazy = "def f():\n    from pipelines import mlflow_store\n"
    assert broken_rules(executor, lazy) == [
        "line 2: imports pipelines",
        "line 2: imports pipelines.mlflow_store",
    ]
    for source in (
        "from components.mlflow_pusher import registry",
        "import components.nas_tuner.history as h",
        "from components import mlflow_pusher",
        "from ..mlflow_pusher import registry",
        "import importlib\nimportlib.import_module('components.nas_tuner.tracking')",
        "import dags.retrain",
    ):
        assert broken_rules(executor, source), source
    assert broken_rules("core.tasks", "from components.nas_tuner import tfx_io")
    assert broken_rules("core", "from pipelines.settings import Settings", is_package=True)
    for source in (
        "from components.data_validator import checks",
        "from . import checks",
        "from .profile import render",
        "from core import names, tracking",
        "from nas import task",
        "import tensorflow as tf",
    ):
        assert not broken_rules(executor, source), source
    assert not broken_rules("core.tasks", "from nas import task as engine_tasks")


def test_there_are_component_packages():
    assert {"data_validator", "mlflow_pusher", "nas_tuner"} <= set(COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_imports_no_other_component_and_no_pipeline(component):
    assert scan(REPO / "components" / component) == {}


def test_core_imports_no_component_and_no_pipeline():
    assert scan(REPO / "core") == {}
