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
