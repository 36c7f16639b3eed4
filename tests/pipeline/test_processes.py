"""The process and waiting helpers written once (core/processes.py on psutil, core/waiting.py),
on real processes; and /proc is read in core/processes.py only."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from core import processes, waiting
from pipelines.settings import REPO

CODE = ("core", "dags", "pipelines", "components", "nas", "stack", "bench", "tests")


def test_a_tree_of_processes_is_found_and_waited_for():
    top = subprocess.Popen(["bash", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    try:
        below = waiting.wait_until(lambda: processes.descendants(top.pid), 10, every_s=0.05)
        assert len(below) == 2 and all(processes.alive(p) for p in below)
        found = processes.matching(lambda argv: argv[:2] == ["sleep", "60"])
        assert set(below) <= set(found) and {found[p] for p in below} == {top.pid}
        assert processes.wait_gone([top.pid], timeout_s=0.3) == [top.pid]  # still running
        processes.kill_group(top.pid)
        time.sleep(0.2)
        assert not processes.alive(top.pid)  # a zombie (not yet reaped) counts as gone
        assert processes.wait_gone([top.pid, *below], timeout_s=10) == []
    finally:
        top.send_signal(signal.SIGKILL)
        top.wait()
    assert processes.descendants(top.pid) == [] and not processes.alive(top.pid)


def test_wait_until_returns_the_value_or_names_what_it_waited_for():
    calls = []
    assert waiting.wait_until(lambda: calls.append(1) or len(calls) >= 3 and "ok", 5, 0.01) == "ok"
    with pytest.raises(TimeoutError, match="the answer: not within 0 s"):
        waiting.wait_until(lambda: None, 0.05, 0.01, what="the answer")
    assert waiting.wait_until(lambda: 0, 0.05, 0.01, quiet=True) == 0
    with pytest.raises(RuntimeError, match="gave up"):
        waiting.wait_until(lambda: (_ for _ in ()).throw(RuntimeError("gave up")), 5)
    assert not waiting.answers("http://127.0.0.1:9/", timeout_s=1)


def test_proc_is_read_in_core_processes_only():
    readers = [
        str(path.relative_to(REPO))
        for folder in CODE
        for path in (REPO / folder).rglob("*.py")
        if path.name != "test_processes.py"  # this check's own source
        and any(quote + "/proc" in path.read_text() for quote in "\"'")
    ]
    assert readers == ["core/processes.py"], readers
