"""Runs the retraining pipeline with TFX's own LocalDagRunner (one process). TFX environment.

python bench/local_runner.py STATE_DIR [SETTINGS_JSON]

SETTINGS_JSON: settings other than the defaults, by their names in the settings contract.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# The repository first: the script's own folder (bench/) holds a `nas` package of its own.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
t0 = time.monotonic()
from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # noqa: E402

from pipelines.retrain import create_pipeline  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

state = sys.argv[1]
overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
settings = Settings(
    **overrides,
    pipeline_root=f"{state}/pipeline_root",
    metadata_path=f"{state}/metadata.sqlite",
).validated()
LocalDagRunner().run(create_pipeline(settings))
print(f"LOCAL_DAG_RUNNER_SECONDS {time.monotonic() - t0:.1f}")
