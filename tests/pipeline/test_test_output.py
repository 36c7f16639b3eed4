"""What `make test` prints (Makefile: test): a slow test says it is still running
(tests/progress.py), and the end is a summary per tree from JUnit XML (tests/summary.py).
A real pytest runs a generated file of a slow, a failing and a skipped test."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.settings import REPO
from tests import summary

TESTS = """
import time, pytest

def test_slow():
    time.sleep(2.6)

def test_bad():
    assert 1 == 2

@pytest.mark.skip(reason="shown as skipped")
def test_skipped():
    pass
"""


def test_a_slow_test_reports_progress_and_the_summary_counts_each_tree(tmp_path):
    (tmp_path / "test_generated.py").write_text(TESTS)
    xml = tmp_path / "tree.xml"
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "tests.progress", "-p", "no:cacheprovider"]
    env = dict(os.environ, RETRAIN_TEST_HEARTBEAT_S="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [*cmd, f"--junitxml={xml}", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    lines = done.stdout.splitlines()
    # A line of its own while the slow test runs, then its result on a line of its own.
    beats = [i for i, ln in enumerate(lines) if ln.startswith("    ... still running: ")]
    assert beats and "test_generated.py::test_slow (" in lines[beats[0]], lines
    assert "test_slow PASSED" in lines[beats[-1] + 1], lines

    out, ok = summary.summary(
        {"lint": 0, "docs": 0},
        {"pipeline": (xml, 1), "airflow": (tmp_path / "missing.xml", 4)},
    )
    assert not ok
    assert out[3].startswith("  pipeline  1 passed, 1 failed, 1 skipped in 0:0"), out
    assert out[4] == "    failed: test_generated.py::test_bad", out
    assert out[5] == "  airflow   FAILED: no results (pytest exit 4)", out
    assert out[-1] == "total: 1 passed, 2 failed"
    # Everything passed: the closing line says so, and the summary is ok.
    out, ok = summary.summary({"lint": 0}, {})
    assert ok and out[-1] == "total: 0 passed, 0 failed"
