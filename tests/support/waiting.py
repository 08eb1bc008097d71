"""Polling until something real has happened (an action audited, an alert firing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(what: str, check: Callable[[], T], seconds: float = 90, every: float = 0.3) -> T:
    """The first truthy `check()`; fails naming `what` if none comes within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(every)
