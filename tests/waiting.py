"""Waiting for a positive signal: a test polls for what it expects, with a deadline, and never sleeps and
then asserts that something did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, what: str, within: float = 10.0) -> T:
    """``condition()``'s first truthy value; fails naming ``what`` if none comes within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {within} s"
        time.sleep(0.02)
    return value
