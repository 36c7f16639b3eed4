"""One declared setting (`Setting`) and the subset of JSON Schema the settings contract uses: the
schema of a setting, the check of a value against it (on the pipeline's side; Airflow checks
the Params with jsonschema), its Airflow Param, and a Markdown table of settings.

Standard library only: the Airflow DAG imports it (through core/settings.py).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re

USER, OPERATOR = "user", "operator"
PIPELINE, DAG = "pipeline", "dag"
# JSON Schema types -> the Python type of a pipeline setting's value.
PYTHON_TYPES = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": tuple,
    "object": dict,
}


SCALARS = ("string", "integer", "number", "boolean")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: a JSON Schema type (string, integer, number, boolean, array, object), the
    default, a one-line description, who sets it (`user`: a DAG Param; `operator`: the
    deployment, $RETRAIN_SETTINGS), what it steers (`pipeline` or only the `dag`) and its rules.
    `optional` settings may be left empty (null in a Param), which means the default, so an
    optional scalar's default is empty too. `env` names an environment variable holding a JSON
    value that replaces the default (an operator's default). `engine`: a NAS engine knob."""

    name: str
    type: str
    default: object
    doc: str
    who: str = OPERATOR
    scope: str = PIPELINE
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    min_length: int | None = None
    items: dict | None = None  # an array's item schema, e.g. {"type": "string", "pattern": ...}
    properties: dict | None = None  # an object's keys and their schemas (no other key allowed)
    optional: bool = False
    env: str = ""
    engine: bool = False

    def __post_init__(self):
        if self.type not in PYTHON_TYPES or self.who not in (USER, OPERATOR):
            raise ValueError(f"setting {self.name}: bad type {self.type!r} or who {self.who!r}")
        if self.scope not in (PIPELINE, DAG):
            raise ValueError(f"setting {self.name}: bad scope {self.scope!r}")
        if self.optional and self.type in SCALARS and self.default:
            raise ValueError(f"optional setting {self.name} must default to empty")
        bad = [] if self.optional and not self.default else self.problems(self.default)
        if bad:
            raise ValueError(f"setting {self.name}: its default breaks its rules: {bad}")

    def default_value(self):
        """The default (a fresh copy), or $env's JSON value where the operator set one."""
        raw = os.environ.get(self.env, "") if self.env else ""
        value = json.loads(raw) if raw.strip() else self.default
        return tuple(value) if self.type == "array" else copy.deepcopy(value)

    def schema(self) -> dict:
        """The JSON Schema of a value (null not included)."""
        rules = {
            "type": self.type,
            "enum": list(self.choices) or None,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "exclusiveMinimum": self.exclusive_minimum,
            "minLength": self.min_length,
            "items": copy.deepcopy(self.items),
        }
        out = {k: v for k, v in rules.items() if v is not None}
        if self.properties is not None:
            out.update(properties=copy.deepcopy(self.properties), additionalProperties=False)
        return out

    def param(self) -> dict:
        """The keyword arguments of this setting's Airflow `Param`: default, description and
        schema. Optional ones take null as well, and an optional scalar defaults to null:
        Airflow's trigger form marks a required field with an empty value ("" or []) as missing
        and will not trigger."""
        schema = self.schema()
        default = self.default_value()
        default = list(default) if self.type == "array" else default
        if self.optional:
            schema["type"] = ["null", self.type]
            if self.type in SCALARS:
                default = None
        return {"default": default, "description": self.doc, **schema}

    def problems(self, value) -> list[str]:
        """What in `value` breaks this setting's rules."""
        return problems_of(self.name, self.schema(), value)


def _is_type(kind: str, value) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "number":
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, (list, tuple) if kind == "array" else PYTHON_TYPES[kind])


def problems_of(name: str, schema: dict, value) -> list[str]:
    """What in `value` breaks JSON Schema `schema` (the subset the contract uses)."""
    kind = schema["type"]
    if not _is_type(kind, value):
        return [f"{name}={value!r} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{name}={value!r} is not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{name}={value} must be >= {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{name}={value} must be <= {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        out.append(f"{name}={value} must be > {schema['exclusiveMinimum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(f"{name}={value!r} must have at least {schema['minLength']} character(s)")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{name}={value!r} does not match {schema['pattern']}")
    for i, item in enumerate(value if "items" in schema else ()):
        out += problems_of(f"{name}[{i}]", schema["items"], item)
    properties = schema.get("properties")
    if properties is not None:
        unknown = sorted(set(value) - set(properties))
        if unknown and schema.get("additionalProperties") is False:
            out.append(f"{name}: unknown key(s) {unknown}; known: {sorted(properties)}")
        for key in sorted(set(value) & set(properties)):
            out += problems_of(f"{name}.{key}", properties[key], value[key])
    return out


# ---- Markdown --------------------------------------------------------------------------------


def _shown(value, root: str = "") -> str:
    if root and isinstance(value, str) and value.startswith(root + os.sep):
        value = value[len(root) + 1 :]  # a path in the repository, as the README names it
    if value is None:
        return "null"
    if value == "":
        return "empty"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


def _bounds(schema: dict) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive = schema.get("exclusiveMinimum")
    if high is not None and (low is not None or exclusive is not None):
        if schema["type"] == "integer" and low is not None:
            return f"{low}–{high}"
        return f"in {'(' if low is None else '['}{exclusive if low is None else low}, {high}]"
    if low is not None:
        return f"≥ {low}"
    if exclusive is not None:
        return f"> {exclusive}"
    return f"≤ {high}" if high is not None else ""


def _type_word(s: Setting) -> str:
    word = "enum" if s.choices else s.type
    if s.items:
        word = f"array of {s.items['type']}s"
    return f"{word} or null" if s.optional else word


def _rule(s: Setting, root: str) -> str:
    schema = s.schema()
    if s.choices:
        return ", ".join(f"`{c}`" + (" (default)" if c == s.default else "") for c in s.choices)
    parts = [_bounds(schema)]
    if s.min_length:
        parts.append("non-empty")
    if s.items and "pattern" in s.items:
        parts.append(f"each matches `{s.items['pattern']}`")
    if s.properties:
        keys = (f"`{k}` {_bounds(v)}".strip() for k, v in s.properties.items())
        parts.append("keys: " + ", ".join(keys))
    default = list(s.default) if s.type == "array" else s.default
    default = None if s.optional and not s.default and s.type in SCALARS else default
    default = _shown(default, root)
    parts.append(f"default `${s.env}`, else {default}" if s.env else f"default {default}")
    return "; ".join(p for p in parts if p)


def markdown_table(settings: list[Setting], first: str = "Param", root: str = "") -> str:
    """A Markdown table of `settings`: name, type, rule and default, description. Defaults
    under `root` (the repository) are shown relative to it."""
    lines = [f"| {first} | type | rule and default | description |", "|---|---|---|---|"]
    for s in settings:
        cells = [f"`{s.name}`", _type_word(s), _rule(s, root), s.doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
