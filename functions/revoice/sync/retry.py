"""When and how long to wait before trying a sync. labs call again.

Mirrors the official SDK (0.5 s * 2^n, capped at 10 s, jittered, Retry-After honoured up to 30 s) with
an overall deadline so a Lambda never spends its whole timeout sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from revoice.sync.errors import SyncError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 30.0
    # A Retry-After longer than this is not slept on: the error goes back to the caller, which can wait
    # far more cheaply (a Step Functions Wait) than a Lambda sleeping to hear "come back in an hour".
    hand_back_after: float = 30.0
    deadline: float = 60.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, error: SyncError) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return float(ceiling / 2 + ceiling / 2 * self.jitter())

    def should_retry(self, attempt: int, error: SyncError, started: float, now: float | None = None) -> bool:
        if not error.retryable or attempt >= self.max_attempts:
            return False
        if error.retry_after is not None and error.retry_after > self.hand_back_after:
            return False
        elapsed = (time.monotonic() if now is None else now) - started
        return elapsed + self.delay(attempt, error) <= self.deadline


NO_RETRY = RetryPolicy(max_attempts=1)
