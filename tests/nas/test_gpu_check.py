"""bench/gpu_check: refuses a CPU-only host with a clear message; its search path works."""

from __future__ import annotations

import subprocess

from pipelines.settings import REPO


def test_gpu_check_says_it_needs_a_gpu_here():
    out = subprocess.run(
        [str(REPO / "bench" / "gpu_check")], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2
    assert "needs a GPU" in out.stderr


def test_gpu_check_dry_run_on_cpu():
    out = subprocess.run(
        [str(REPO / "bench" / "gpu_check"), "--cpu-dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "gpu_check DRY RUN (CPU)" in out.stdout and "throughput:" in out.stdout
