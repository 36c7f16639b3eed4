"""The trust boundary between whoever may trigger a run and the machine that runs it, checked in
`check_params` before any node starts (docs/security.md).

A trigger may set Params. Some name files the pipeline reads or imports: `data` (read; or a
postgresql:// source, which must lie under a URI prefix among the roots: core/pg_source.py),
`schema_file` (read), `baseline_module` (imported: it runs code). Those must lie in the
operator's `allowed_roots`, symbolic links resolved. `beam_pipeline_args` may only name the
operator's `allowed_beam_options` (`--setup_file`, `--environment_type=PROCESS` and the like
run commands). A value equal to the DAG's default is the operator's own choice (the contract's
default, $RETRAIN_BEAM_ARGS, a dataset definition) and is trusted; so is the folder of an Asset
that triggered the run (Assets are declared by the deployment). A trigger may not set
`promotion` to `auto` where the DAG's default is `approval` (a sign-off the operator requires).

Also each node's time limit (`timeout_s`), from the operator's settings and the run's budget.
Standard library only (the DAG imports it).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PATH_PARAMS = ("data", "schema_file", "baseline_module")


def setting(name: str, settings: dict, contract):
    """A setting's value for this run: the run's, else the contract's default (its env)."""
    value = settings.get(name)
    return contract.SETTINGS[name].default_value() if value is None else value


def roots(settings: dict, contract, repo: Path) -> list[Path]:
    """The allowed roots that are folders, resolved (relative ones from the repository)."""
    from core import pg_source  # on sys.path by retrain_support/__init__.py

    out = []
    for root in setting("allowed_roots", settings, contract):
        if pg_source.is_source(root):
            continue  # a URI prefix: pg_source.within
        path = Path(root).expanduser()
        out.append(Path(os.path.realpath(path if path.is_absolute() else repo / path)))
    return out


def problems(params: dict, defaults: dict, settings: dict, contract, repo: Path) -> list[str]:
    """What in the trigger's `params` crosses the boundary (empty: nothing). `defaults`: the
    DAG's Param defaults; `settings`: the run's pipeline settings (the operator's included)."""
    from core import pg_source

    out = []
    allowed = roots(settings, contract, repo)
    for name in PATH_PARAMS:
        value = params.get(name)
        if not value or value == defaults.get(name):
            continue
        if name == "data" and pg_source.is_source(value):
            line = pg_source.outside(value, setting("allowed_roots", settings, contract))
            out += [line] if line else []
            continue
        path = Path(str(value)).expanduser()
        real = Path(os.path.realpath(path if path.is_absolute() else repo / path))
        if not any(real == root or root in real.parents for root in allowed):
            out.append(
                f"param {name}: {value} is outside the allowed roots "
                f"({', '.join(map(str, allowed))}); an operator adds roots in allowed_roots"
            )
    approval = contract.promotion.APPROVAL
    if defaults.get("promotion") == approval and params.get("promotion") not in (None, approval):
        out.append(
            f"param promotion: this DAG's promotion is {approval} (the operator's or the "
            "dataset's): a person signs off before @champion moves; a trigger cannot turn it off"
        )
    args = params.get("beam_pipeline_args")
    if args and list(args) != list(defaults.get("beam_pipeline_args") or ()):
        names = set(setting("allowed_beam_options", settings, contract))
        bad = [a for a in args if str(a)[2:].partition("=")[0] not in names]
        if bad:
            out.append(
                f"param beam_pipeline_args: {bad} not allowed; allowed options: "
                f"{sorted(names)} (an operator sets allowed_beam_options)"
            )
    return out


def data_gb(settings: dict, repo: Path) -> float:
    """The size of the run's data folder (a PostgreSQL source's snapshot) in GB (0 when it
    cannot be read)."""
    data = Path(str(settings.get("data_snapshot") or settings.get("data") or ""))
    data = data if data.is_absolute() else repo / data
    total = 0
    for folder, _, files in os.walk(data):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(folder, f))
            except OSError:
                pass
    return total / 1e9


def timeout_s(node: str, settings: dict, contract, repo: Path) -> float:
    """The node's time limit: the Tuner's (and its workers') is its search budget plus
    `tuner_timeout_margin_s`; every other node's is `node_timeout_s` per started GB of data."""
    if node in ("Tuner", "TunerWorker"):
        budget_min = float(setting("time_budget_min", settings, contract))
        return budget_min * 60 + setting("tuner_timeout_margin_s", settings, contract)
    per = setting("node_timeout_s", settings, contract)
    return float(per * max(1, math.ceil(data_gb(settings, repo))))
