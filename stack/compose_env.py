"""docker/compose.yaml as the one source of the production settings: its services, their
environments and commands, with Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`
filled in, and, for `make stack`, the services' addresses moved to this machine's loopback ports.

Only what the native stack needs of Compose's format is read: YAML anchors and merge keys
(PyYAML resolves them), `environment` as a mapping, `command` as a list, and `hostname`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker" / "compose.yaml"
_VAR = re.compile(r"\$\$|\$\{(\w+)(?::?([?-])([^}]*))?\}")
# Compose service -> the port it listens on inside the stack.
SERVICE_PORTS = {
    "postgres": 5432,
    "redis": 6379,
    "mlflow": 5000,
    "api-server": 8080,
    "serving": 8000,
}


class MissingSecret(ValueError):
    """A `${VAR:?message}` whose variable is empty: compose refuses to start, and so do we."""


def load(path: Path = COMPOSE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def secrets_required(path: Path = COMPOSE) -> list[str]:
    """Every variable compose refuses to start without, in order of first use."""
    found: list[str] = []
    for m in _VAR.finditer(path.read_text()):
        if m.group(2) == "?" and m.group(1) not in found:
            found.append(m.group(1))
    return found


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's variable substitution of one string."""

    def fill(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, kind, arg = m.groups()
        value = values.get(name, "")
        if kind == "?" and not value:
            raise MissingSecret(f"{name}: {arg}")
        if kind == "-" and not value:
            return arg
        return value

    return _VAR.sub(fill, text)


def service(config: dict, name: str, values: dict[str, str]) -> dict:
    """One service with its `environment` (a dict) and `command` (a list) interpolated."""
    spec = dict(config["services"][name])
    env = spec.get("environment") or {}
    spec["environment"] = {k: interpolate(str(v), values) for k, v in env.items()}
    command = spec.get("command") or []
    spec["command"] = [interpolate(str(a), values) for a in command]
    return spec


def localize(text: str, ports: dict[str, int]) -> str:
    """`postgres:5432`, `http://mlflow:5000`, ... as 127.0.0.1 and this stack's own ports."""
    for name, inside in SERVICE_PORTS.items():
        if name not in ports:
            continue
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}:{inside}\b", f"127.0.0.1:{ports[name]}", text)
    return text
