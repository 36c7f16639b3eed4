"""Nothing the product runs unpickles data: a pickle from a dataset path (or a state folder that
someone else can write) would run arbitrary code. Weights are HDF5, optimizer slots are .npz
read with allow_pickle=False, and every state file is JSON."""

from __future__ import annotations

import ast

import pytest

from pipelines.settings import REPO

PRODUCT = ("dags", "components", "pipelines", "bench", "stack")
UNSAFE_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("torch", "load"),
    ("shelve", "open"),
}


def unsafe_uses(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            if (
                isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and (f.value.id, f.attr) in UNSAFE_CALLS
            ):
                found.append(f"{f.value.id}.{f.attr} (line {node.lineno})")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append(f"allow_pickle=... (line {node.lineno})")
    return found


def test_the_checker_catches_unpickling():
    assert unsafe_uses("import pickle\npickle.load(open('x', 'rb'))")
    assert unsafe_uses("import numpy as np\nnp.load('x.npy', allow_pickle=True)")
    assert not unsafe_uses("import numpy as np\nnp.load('x.npz')")


@pytest.mark.parametrize("folder", PRODUCT)
def test_no_code_unpickles(folder):
    files = sorted((REPO / folder).rglob("*.py"))
    assert files
    hits = {str(p.relative_to(REPO)): unsafe_uses(p.read_text()) for p in files}
    assert not {k: v for k, v in hits.items() if v}
