"""Dataset definitions: one JSON file per dataset in `datasets/` (or `$RETRAIN_DATASETS`), each
becoming its own pair of retraining DAGs (dags/datasets/, dags/retrain_support/dataset_dags.py).

A definition `datasets/NAME.json` (NAME: lowercase letters, digits, underscores) holds:
- `data` (required): the data folder, relative to the repository, absolute, or a file:// URI;
  or a PostgreSQL table or query, postgresql://USER@HOST:PORT/DB?table=NAME (core/pg_source.py),
  which must lie under a URI prefix among the operator's `allowed_roots`, as a trigger's must
  (then `label` is required: a table has no dataset.json);
- `schedule`: a cron expression or preset ("@daily"), or "none"; default $RETRAIN_SCHEDULE,
  else "@weekly";
- `asset`: the URI of the Asset whose events trigger `retrain_NAME_on_data`; default the data
  folder's file:// URI, or for a table Airflow's postgres://HOST:PORT/DB/SCHEMA/TABLE (a query
  names its own). A run of a PostgreSQL dataset reads its table whatever Asset fired;
- `description`: one line for the DAGs;
- any other setting of the contract (core/settings.py) a user or the pipeline reads: `label`,
  `task`, `registered_model_name`, gate thresholds, search settings ... Those users set
  become the DAGs' Param defaults; the others the dataset's pipeline settings. Not allowed:
  the ones the DAG sets for each dataset (`pipeline_name`: NAME; `lineage`;
  `mlflow_tracking_uri`: one MLflow store for all datasets).

Each dataset has its own pipeline name (its ML Metadata contexts and its MLflow experiments
NAME-nas and NAME-data), its own state directory (pipeline root and ML Metadata under
STATE/datasets/NAME/) and its own registered model. A definition breaking a rule raises
`DatasetError`, one line naming the file and the field. Standard library only: the Airflow DAGs
import it.

`python -m core.datasets` checks every definition; `--sync` writes the DAG loader of each
(dags/datasets/NAME.py) and removes loaders whose definition is gone.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core import pg_source
from core import settings as contract

REPO = contract.REPO
ENV = "RETRAIN_DATASETS"  # a folder of definitions instead of the repository's datasets/
LOADERS = REPO / "dags" / "datasets"
NAME = re.compile(r"^[a-z0-9_]+$")
# Fields of a definition that are not settings: they shape the DAGs.
DAG_FIELDS = ("data", "schedule", "asset", "description")
# Settings the DAG sets for each dataset; a definition may not.
PER_DATASET = {
    "pipeline_name": "it is the dataset's name (the file's name)",
    "lineage": "the DAG sets it for each run",
    "mlflow_tracking_uri": "all datasets share one MLflow store ($MLFLOW_TRACKING_URI)",
    "data_snapshot": "the DAG sets it for each run on a postgresql:// source",
}
PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
PRESETS += ("@annually", "@continuous")


class DatasetError(ValueError):
    """A dataset definition that cannot be used; the message names the file and the field."""


def folder() -> Path:
    """The folder of definitions: $RETRAIN_DATASETS, else the repository's datasets/."""
    return Path(os.environ.get(ENV) or REPO / "datasets")


def shown(path: Path) -> str:
    """A definition's path as messages name it: relative to the repository when inside it."""
    path = Path(path).absolute()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def data_of_asset(uri: str) -> str:
    """The local folder a file:// URI names (percent-escapes decoded); ValueError otherwise."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        raise ValueError(
            f"{uri!r} is not a file:// URI of a local folder; the pipeline reads data from a "
            "folder (a path or file:///absolute/path)"
        )
    return unquote(parts.path)


def model_name_for(data_dir: str) -> str:
    """A registered model name from a data folder's name: lowercase ASCII letters, digits and
    underscores ("Ärztliche Daten" -> "arztliche_daten"); "model" if nothing is left."""
    name = unicodedata.normalize("NFKD", Path(data_dir).name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "model"


def scoped(path: str, name: str) -> str:
    """`path` (a file path or URI) with datasets/NAME/ put before its last part:
    STATE/pipeline_root -> STATE/datasets/NAME/pipeline_root."""
    parts = urlsplit(path)
    head = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    rest = path[len(head) :].rstrip("/")
    parent, sep, last = rest.rpartition("/")
    if not last:
        return f"{head}/datasets/{name}"
    return f"{head}{parent}{sep}datasets/{name}/{last}"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One checked dataset definition: what its two DAGs need. `params`: Param defaults (user
    settings, `data` among them); `settings`: the other pipeline settings it names."""

    name: str
    file: Path
    data: str
    schedule: str | None
    asset: str
    description: str
    params: dict
    settings: dict

    @property
    def source(self) -> bool:
        """Whether the data is a postgresql:// table or query, not a folder."""
        return pg_source.is_source(self.data)

    @property
    def dag_ids(self) -> tuple[str, str]:
        """(scheduled DAG, Asset-triggered DAG)."""
        return f"retrain_{self.name}", f"retrain_{self.name}_on_data"

    def pipeline_settings(self, base: dict) -> dict:
        """The run's pipeline settings from the deployment's `base` (Params, paths, the
        operator's $RETRAIN_SETTINGS): its pipeline name, its own state (base paths scoped to
        datasets/NAME/ unless it names them) and the settings it names. An operator's
        registered_model_name is for the generic DAGs only: a dataset's model is named by its
        definition, else the data folder (dataset.json, else its name)."""
        out = dict(base, pipeline_name=self.name)
        if not base.get("mlflow_tracking_uri") and base.get("metadata_path"):
            # The store the generic DAGs use (beside their ML Metadata): one registry for all.
            store = Path(base["metadata_path"]).parent / "mlflow.db"
            out["mlflow_tracking_uri"] = f"sqlite:///{store}"
        for key in ("pipeline_root", "metadata_path"):
            if key in base:
                out[key] = scoped(base[key], self.name)
        out.pop("registered_model_name", None)
        return {**out, **self.settings}


def _fail(file: Path, field: str | None, problem: str):
    where = f"field {field!r}: " if field else ""
    raise DatasetError(f"{shown(file)}: {where}{problem}")


def _unknown(file: Path, key: str, known: list[str]):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    fields = ", ".join(DAG_FIELDS)
    _fail(file, key, f"unknown field (not a setting of core/settings.py nor {fields}){hint}")


def operator_roots() -> list:
    """The allowed roots in force for the DAGs: $RETRAIN_SETTINGS's, else the contract's
    default ($RETRAIN_ALLOWED_ROOTS, else ".")."""
    try:
        ours = json.loads(os.environ.get("RETRAIN_SETTINGS") or "{}")
    except ValueError:
        ours = {}
    roots = ours.get("allowed_roots") if isinstance(ours, dict) else None
    if isinstance(roots, list):
        return roots
    return list(contract.SETTINGS["allowed_roots"].default_value())


def _data(file: Path, value) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(file, "data", f"{value!r} must be a non-empty folder path or file:// URI")
    if pg_source.is_source(value):  # the trust boundary a trigger's postgresql:// data meets
        line = pg_source.outside(value, operator_roots())
        if line:
            _fail(file, "data", line.removeprefix("param data: "))
        return pg_source.parse(value).uri
    if "://" in value:
        try:
            return data_of_asset(value)
        except ValueError as e:
            problem = str(e)
        _fail(file, "data", problem)
    return value


def _table_asset(file: Path, source) -> str:
    """Airflow's Asset URI of a PostgreSQL table (its postgres provider's form)."""
    if not source.table:
        _fail(file, "asset", "missing: a postgresql:// query names the Asset that retrains it")
    schema, _, table = source.table.rpartition(".")
    return f"postgres://{source.host}:{source.port}/{source.dbname}/{schema or 'public'}/{table}"


def _schedule(file: Path, value) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if not isinstance(value, str):
        _fail(file, "schedule", f'{value!r} must be a cron expression, a preset or "none"')
    value = value.strip()
    if value.startswith("@") and value not in PRESETS:
        _fail(file, "schedule", f"{value!r} is not one of {list(PRESETS)} (or a cron expression)")
    if not value.startswith("@") and not 5 <= len(value.split()) <= 7:
        _fail(file, "schedule", f"{value!r}: a cron expression has 5 to 7 fields")
    return value


def _setting(file: Path, key: str, value, known: list[str]):
    if key in PER_DATASET:
        _fail(file, key, f"not allowed in a definition: {PER_DATASET[key]}")
    setting = contract.SETTINGS.get(key)
    if setting is None or key not in known:
        _unknown(file, key, known)
    if value is None:
        if not setting.optional:
            _fail(file, key, "must not be null")
        return None
    bad = setting.problems(value)
    if key == "drift_thresholds" and isinstance(value, dict):
        for column, limit in value.items():
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
                bad.append(f"{key}.{column}={limit!r} must be a number >= 0")
    if bad:
        _fail(file, key, "; ".join(bad))
    return list(value) if isinstance(value, tuple) else value


def _named_label(manifest: Path) -> bool:
    """Whether a data folder's dataset.json names a label (pipelines/settings.py reads it)."""
    return bool(manifest_label(manifest.parent))


def manifest_label(folder: Path) -> str:
    """The label a data folder's dataset.json names ("" when it names none, or is unreadable)."""
    try:
        raw = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    label = raw.get("label") if isinstance(raw, dict) else None
    return label if isinstance(label, str) else ""


def settable() -> list[str]:
    """The settings a definition may name: users' and the pipeline's, less the per-dataset."""
    names = [s.name for s in contract.SETTINGS.values()]
    ok = [n for n in names if contract.SETTINGS[n].who == contract.USER]
    ok += [s.name for s in contract.pipeline_settings() if s.name not in ok]
    return [n for n in ok if n not in PER_DATASET]


def parse(file: Path, raw) -> Dataset:
    """A checked `Dataset` from a definition's JSON value `raw` read from `file`."""
    file = Path(file)
    name = file.stem
    if file.suffix != ".json" or not NAME.match(name):
        _fail(file, None, "a definition is NAME.json, NAME of lowercase letters, digits and _")
    if not isinstance(raw, dict):
        _fail(file, None, f"must hold a JSON object, not {type(raw).__name__}")
    if "data" not in raw:
        _fail(file, "data", "missing: the data folder (a path or file:// URI) is required")
    known = settable()
    users = {s.name for s in contract.params()}
    params, settings = {}, {}
    for key, value in raw.items():
        if key in DAG_FIELDS:
            continue
        value = _setting(file, key, value, known)
        if value is not None:
            (params if key in users else settings)[key] = value
    data = _data(file, raw["data"])
    where = Path(data) if os.path.isabs(data) else REPO / data
    source = pg_source.is_source(data)
    if "label" not in params and source:
        _fail(
            file, "label", "missing: name the label here (a PostgreSQL source has no dataset.json)"
        )
    if "label" not in params and where.is_dir() and not _named_label(where / "dataset.json"):
        _fail(file, "label", "missing: name the label here or in the data folder's dataset.json")
    asset = raw.get("asset")
    if asset is None and source:
        asset = _table_asset(file, pg_source.parse(data))
    elif asset is None:
        asset = where.as_uri()
    elif not isinstance(asset, str) or not re.match(r"^[a-z][a-z0-9+.-]*://", asset):
        _fail(file, "asset", f"{asset!r} must be a URI (scheme://...), e.g. file:///data/x")
    description = raw.get("description", f"Retraining on the {name} dataset ({data}).")
    if not isinstance(description, str):
        _fail(file, "description", f"{description!r} must be a string")
    default = os.environ.get("RETRAIN_SCHEDULE", "@weekly")
    schedule = _schedule(file, raw.get("schedule", default))
    params["data"] = data
    return Dataset(name, file, data, schedule, asset, description, params, settings)


def load(file: Path) -> Dataset:
    """The checked definition in `file`; DatasetError (file and field named) otherwise."""
    file = Path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(file, None, "no such dataset definition")
    except (OSError, UnicodeDecodeError) as e:
        _fail(file, None, f"cannot be read: {e}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        _fail(file, None, f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}")
    return parse(file, raw)


def named(name: str) -> Dataset:
    """The definition of dataset `name` in the definitions folder."""
    return load(folder() / f"{name}.json")


def definitions(where: Path | None = None) -> list[Path]:
    """The definition files, sorted by name."""
    return sorted(Path(where or folder()).glob("*.json"))


def load_all(where: Path | None = None) -> tuple[list[Dataset], list[str]]:
    """(the good definitions, one line per bad one)."""
    good, bad = [], []
    for file in definitions(where):
        try:
            good.append(load(file))
        except DatasetError as e:
            bad.append(str(e))
    return good, bad


LOADER = '''\
"""Airflow DAGs of one dataset: this file's name is the dataset's. It builds retrain_NAME (on
the definition's schedule) and retrain_NAME_on_data (on its Asset) from datasets/NAME.json.

Written by `python -m core.datasets --sync`; every loader is this same file. One per dataset
because Airflow records import errors per DAG file: a bad definition breaks only its own DAGs.
"""

from retrain_support.dataset_dags import dataset_dags

scheduled, on_data = dataset_dags(__file__)
'''


def sync(where: Path | None = None, loaders: Path = LOADERS) -> list[str]:
    """Writes the loader of every definition and removes loaders whose definition is gone;
    what it did, one line each."""
    names = {f.stem for f in definitions(where) if NAME.match(f.stem)}
    done = []
    loaders.mkdir(parents=True, exist_ok=True)
    for name in sorted(names):
        path = loaders / f"{name}.py"
        if not path.exists() or path.read_text() != LOADER:
            path.write_text(LOADER)
            done.append(f"wrote {shown(path)}")
    for path in sorted(loaders.glob("*.py")):
        if path.stem not in names and path.read_text() == LOADER:
            path.unlink()
            done.append(f"removed {shown(path)} (no definition)")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.datasets", description=__doc__)
    parser.add_argument("--sync", action="store_true", help="write and remove DAG loaders")
    args = parser.parse_args(argv)
    good, bad = load_all()
    for d in good:
        print(f"{shown(d.file)}: DAGs {', '.join(d.dag_ids)}; data {d.data}; asset {d.asset}")
    for line in bad:
        print(line, file=sys.stderr)
    if args.sync:
        for line in sync():
            print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
