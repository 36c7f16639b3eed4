"""A spare Python of the TFX environment, its imports done, waiting for its work (the front keeps
`serving_spares` of them; backend.py's Spares):

    python -m serving.warm     # then one JSON line on stdin: {"module", "argv", "log"}

It imports what a model server and a smoke test import before they can load a version (MLflow's
scoring server, uvicorn, pandas, TensorFlow and tf.Transform: import only, no TensorFlow op runs
here), then reads one line from stdin, sends its stdout and stderr to `log`, and runs `module`
as `python -m module argv...` would (serving.model_server, serving.smoke). This process is
the model server or the smoke test from then on: nothing is forked, so the work starts in a
process that never ran TensorFlow, as a fresh one; only the imports are done already. The
repository's own packages are not imported here: a model's code is its own (its code paths).
Standard library, then whatever is importable; EOF on stdin: it exits.

backend.py's `Spares` (the front's side) keeps them and hands them work. This module imports
nothing of the repository's at its top, so neither does a spare.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import sys

READY_LINE = "warm: imports done"


PRELOAD = (
    "pandas",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.pyfunc.scoring_server",
    "uvicorn",
    "tensorflow",
    "tensorflow_transform",
)


def preload(modules=PRELOAD) -> list[str]:
    """Imports `modules`; those that failed (a missing package is the work's own error)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (reported; the work will say what is wrong)
            failed.append(name)
    return failed


def main() -> int:
    failed = preload()
    print(f"{READY_LINE}{f' (failed: {failed})' if failed else ''}", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    work = json.loads(line)
    with open(work["log"], "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    with contextlib.suppress(OSError):
        os.close(0)
    sys.argv = [work["module"], *work["argv"]]
    runpy.run_module(work["module"], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
