"""Waiting for something to be ready (a server to answer, a process to end, a run to finish),
written once for the stack, the DAG's node client and the tests. The NAS engine keeps its own
small loops (nas/distributed.py): it imports nothing of ours. Standard library only.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout_s: float, every_s: float = 1.0, what: str = "", quiet=False
) -> T:
    """Calls `check` every `every_s` seconds until it returns something true, and returns that.
    After `timeout_s`: TimeoutError naming `what` (with `quiet`, the last value instead).
    `check` may raise to give up at once (the server it waits for has exited, say)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            break
        time.sleep(min(every_s, max(deadline - time.monotonic(), 0)))
    if not value and not quiet:
        raise TimeoutError(f"{what or 'the wait'}: not within {timeout_s:.0f} s")
    return value


def answers(url: str, timeout_s: float = 5) -> bool:
    """Whether `url` answers an HTTP GET (any status below 400) now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):
            return True
    except OSError:
        return False
