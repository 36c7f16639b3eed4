"""One declared setting (`Setting`): its JSON Schema, the check of a value against it, its
Airflow Param, and a Markdown table of settings.

Values are checked by `jsonschema`, the validator Airflow runs on the same Params, so a value
the trigger form accepts is one the pipeline accepts; its errors are turned into one readable
line each (`epochs=0 must be >= 1`). Standard library and jsonschema only: the Airflow DAG
imports it (through core/settings.py).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os

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
    value that replaces the default (an operator's default; a string setting's may be the bare
    text). `engine`: a NAS engine knob. `secret`: its value is never shown (a URL holding a
    token)."""

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
    secret: bool = False

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
        if self.type == "string" and raw.strip() and not raw.lstrip().startswith('"'):
            value = raw.strip()  # bare text, e.g. a URL
        else:
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
    """JSON Schema's types for Python values: an array may be a tuple (the pipeline's Settings
    hold them so), a number is finite, and neither an integer nor a number is a bool."""
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "number":
        return isinstance(value, (int, float)) and math.isfinite(value)
    if kind == "null":
        return value is None
    return isinstance(value, (list, tuple) if kind == "array" else PYTHON_TYPES[kind])


_VALIDATOR = None


def _validator_class():
    """jsonschema's Draft 2020-12 validator with the types above, made once, imported on first
    use. jsonschema's optional "iri" format check builds a grammar when it is imported (5 s in
    the TFX environment, in every node process); the contract uses no formats, so that module
    is kept from loading unless something loaded it already."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import sys

        sys.modules.setdefault("rfc3987_syntax", None)  # None: an import of it fails at once
        from jsonschema import Draft202012Validator, validators

        checker = Draft202012Validator.TYPE_CHECKER.redefine_many(
            {kind: (lambda _c, v, k=kind: _is_type(k, v)) for kind in (*PYTHON_TYPES, "null")}
        )
        _VALIDATOR = validators.extend(Draft202012Validator, type_checker=checker)
    return _VALIDATOR


def _line(name: str, error) -> str:
    """One jsonschema error as one line, named by the path to the value that breaks it."""
    where = name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    value, rule, kind = error.instance, error.validator_value, error.validator
    if kind == "type":
        rule = rule if isinstance(rule, str) else " or ".join(rule)
        return f"{where}={value!r} is not {'an' if rule[0] in 'aeiou' else 'a'} {rule}"
    if kind == "enum":
        return f"{where}={value!r} is not one of {rule}"
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}[kind]
        return f"{where}={value} must be {sign} {rule}"
    if kind == "minLength":
        return f"{where}={value!r} must have at least {rule} character(s)"
    if kind == "pattern":
        return f"{where}={value!r} does not match {rule}"
    if kind == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        return f"{where}: unknown key(s) {sorted(set(value) - set(known))}; known: {known}"
    return f"{where}: {error.message}"


def problems_of(name: str, schema: dict, value) -> list[str]:
    """What in `value` breaks JSON Schema `schema`, one line per problem, in document order."""
    errors = _validator_class()(schema).iter_errors(value)
    return [_line(name, e) for e in sorted(errors, key=lambda e: [str(p) for p in e.path])]


# ---- Markdown --------------------------------------------------------------------------------


def _shown(value, root: str = "") -> str:
    if root and isinstance(value, str) and value.startswith(root + os.sep):
        value = value[len(root) + 1 :]  # a path in the repository, as the docs name it
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
