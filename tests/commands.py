"""The one way the tests run a command that answers with a JSON line: a module in the TFX
environment (the pipeline's summary, its topology, a pyfunc check), an interpreter's import
check. Standard library only: both test trees import it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def last_json(cmd: list, *, timeout: float = 600, env: dict | None = None, prefix: str = ""):
    """Run `cmd` in the repository, assert it exits 0 (its output's tail in the message), and
    return its last line of output, `prefix` removed, as JSON."""
    out = subprocess.run(
        [str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1].removeprefix(prefix))


def dags_test(dag: str, conf: dict, env: dict, timeout: float = 600) -> str:
    """`airflow dags test DAG -c CONF` (the Airflow environment's CLI) with `env`; its whole
    output, stdout then stderr, whatever its exit status (the tests read the run's state)."""
    from core import envs

    out = subprocess.run(
        [envs.AIRFLOW, "dags", "test", dag, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return out.stdout + out.stderr
