"""The pipeline environment is the one TFX 1.16 needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_python_is_3_10():
    assert sys.version_info[:2] == (3, 10)


def test_check_env_reports_the_pins():
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.check_env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "tfx==1.16.0" in out.stdout
    assert "tensorflow==2.16.2" in out.stdout


def test_pip_is_inside_the_environment():
    # TFX builds the user module into a wheel and pip-installs it at run time.
    out = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert str(Path(sys.prefix)) in out.stdout


def test_tfx_portable_launcher_imports():
    # The node runner is built on this; importing it pulls in ML Metadata and the TFX protos.
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration.portable import launcher

    assert hasattr(launcher, "Launcher")
    assert metadata_store_pb2.ConnectionConfig().sqlite is not None
