"""A pytest plugin for `make test` (`-p tests.progress`): a test that runs long says so, once a
minute, instead of minutes of silence.

    ... still running: tests/airflow/test_production.py::test_the_stack (3 min)

The line goes to the terminal pytest writes to (a copy of its file descriptor taken before
any test runs: during a test, pytest captures the real one), as a line of its own; pytest then
writes the test's name and result again on a fresh line. $RETRAIN_TEST_HEARTBEAT_S sets the
interval in seconds (default 60; 0: off).
"""

from __future__ import annotations

import os
import threading
import time

import pytest


class Heartbeat:
    """A daemon thread that reports the test in progress every `every_s` seconds."""

    def __init__(self, reporter, fd: int, every_s: float):
        self.reporter, self.fd, self.every_s = reporter, fd, every_s
        # Held while pytest writes a test's start or result, and while this writes a line.
        self.lock = threading.Lock()
        self.nodeid, self.since, self.told = "", 0.0, 0
        self.done = threading.Event()
        threading.Thread(target=self._run, name="test-heartbeat", daemon=True).start()

    def start(self, nodeid: str) -> None:
        with self.lock:
            self.nodeid, self.since, self.told = nodeid, time.monotonic(), 0

    def stop(self) -> None:
        with self.lock:
            self.nodeid = ""

    def _run(self) -> None:
        while not self.done.wait(min(self.every_s, 5.0)):
            with self.lock:
                ran = time.monotonic() - self.since
                if self.nodeid and ran >= self.every_s * (self.told + 1):
                    self.told += 1
                    took = f"{ran:.0f} s" if ran < 120 else f"{ran / 60:.0f} min"
                    line = f"\n    ... still running: {self.nodeid} ({took})"
                    os.write(self.fd, line.encode())
                    # Left without its newline: pytest ends it, and restates the test's name.
                    self.reporter.currentfspath = None


_BEAT: Heartbeat | None = None


def _every_s() -> float:
    try:
        return float(os.environ.get("RETRAIN_TEST_HEARTBEAT_S", "60"))
    except ValueError:
        return 60.0


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    global _BEAT
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or _every_s() <= 0:
        return
    try:
        reporter.flush()
        fd = os.dup(reporter._tw._file.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file: no heartbeat
        return
    _BEAT = Heartbeat(reporter, fd, _every_s())


def pytest_unconfigure(config):
    global _BEAT
    if _BEAT is not None:
        _BEAT.done.set()
        os.close(_BEAT.fd)
        _BEAT = None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if _BEAT is not None:
        _BEAT.start(item.nodeid)
    try:
        yield
    finally:
        if _BEAT is not None:
            _BEAT.stop()


def _holding_the_lock():
    """A hookwrapper body: pytest's own writes run while the heartbeat's lock is held, so a
    heartbeat line never lands inside one of pytest's lines."""
    if _BEAT is None:
        yield
        return
    with _BEAT.lock:
        yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_logstart(nodeid, location):
    yield from _holding_the_lock()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_logreport(report):
    yield from _holding_the_lock()
