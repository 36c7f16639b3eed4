"""Declared fields: a dataclass field that carries its documentation and its rules (allowed
values, bounds), so one declaration gives the default, the check and the description.

Standard library only: the pipeline's settings contract reads these declarations in the
Airflow environment too (core/settings.py).

Why the engine checks its knobs itself (`problems_of`) instead of through jsonschema, the
pipeline's validator: the engine is a library that imports only the standard library, Keras,
KerasTuner and numpy (tests/nas/test_engine_imports.py), and it must refuse a bad config from
any caller (a bench, a notebook, another orchestrator), not only from the pipeline. The rules
are still declared once, here: the contract turns these declarations into JSON Schema, and
jsonschema checks a pipeline's values against them before the engine sees them
(core/schema.py), so this check is the engine's own last line, never a second set of rules.
"""

from __future__ import annotations

import dataclasses
import math


def knob(
    default,
    doc: str,
    *,
    choices=(),
    minimum=None,
    maximum=None,
    exclusive_minimum=None,
    internal: bool = False,
):
    """A declared field. `internal` knobs are set by the engine's callers (a warm start's seeds,
    the resolved task), not by people, so no setting is derived from them."""
    meta = {
        "doc": doc,
        "choices": tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "internal": internal,
    }
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def default_of(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def declared(cls) -> dict[str, dataclasses.Field]:
    """The declared, non-internal fields of dataclass `cls` by name."""
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata and not f.metadata["internal"]}


def problems_of(obj) -> list[str]:
    """What breaks a declared rule in dataclass instance `obj` (type, choices, bounds)."""
    out = []
    for f in dataclasses.fields(obj):
        meta, value = f.metadata, getattr(obj, f.name)
        if not meta:
            continue
        default = default_of(f)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            out.append(f"{f.name}={value!r} is not a {type(default).__name__}")
            continue
        if meta["choices"] and value not in meta["choices"]:
            out.append(f"{f.name} {value!r} is not one of {list(meta['choices'])}")
        if meta["minimum"] is not None and value < meta["minimum"]:
            out.append(f"{f.name}={value} must be >= {meta['minimum']}")
        if meta["maximum"] is not None and value > meta["maximum"]:
            out.append(f"{f.name}={value} must be <= {meta['maximum']}")
        if meta["exclusive_minimum"] is not None and value <= meta["exclusive_minimum"]:
            out.append(f"{f.name}={value} must be > {meta['exclusive_minimum']}")
    return out
