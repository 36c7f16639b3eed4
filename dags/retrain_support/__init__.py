"""Helpers for the retraining DAGs. Standard library only: no TFX, no TensorFlow.

Airflow puts dags/ on sys.path; the repository's own standard-library packages (core/, the
serving front's client in serving/) are one folder up, and join sys.path here, once, for
every DAG file and task that imports a helper (a deploy task that imported only `notify` once
failed on `import serving` under a real scheduler)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
