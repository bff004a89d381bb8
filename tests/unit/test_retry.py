"""The retry policy: transient errors back off, permanent ones never wait, deadlines hold."""

from __future__ import annotations

import pytest

from revoice.sync.errors import SyncApiError, SyncTransportError
from revoice.sync.retry import RetryPolicy


def policy(**kwargs: float) -> RetryPolicy:
    return RetryPolicy(jitter=lambda: 1.0, **kwargs)  # type: ignore[arg-type]


def test_backoff_doubles_from_half_a_second_and_is_capped_at_ten() -> None:
    error = SyncTransportError("timeout", "slow")
    assert [policy().delay(n, error) for n in (1, 2, 3, 4, 6, 10)] == [0.5, 1.0, 2.0, 4.0, 10.0, 10.0]


def test_jitter_keeps_the_delay_between_half_and_the_full_backoff() -> None:
    error = SyncTransportError("timeout", "slow")
    low = RetryPolicy(jitter=lambda: 0.0).delay(3, error)
    high = RetryPolicy(jitter=lambda: 1.0).delay(3, error)
    assert (low, high) == (1.0, 2.0)


def test_retry_after_is_honoured_up_to_thirty_seconds() -> None:
    assert policy().delay(1, SyncApiError(429, "rate_limit_exceeded", "x", retry_after=7)) == 7
    assert policy().delay(1, SyncApiError(429, "rate_limit_exceeded", "x", retry_after=600)) == 30


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 413, 422])
def test_permanent_errors_are_never_retried(status: int) -> None:
    assert not policy().should_retry(1, SyncApiError(status, "nope", "x"), started=0, now=0)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert policy().should_retry(1, SyncApiError(status, "busy", "x"), started=0, now=0)


def test_attempts_and_the_deadline_bound_the_retries() -> None:
    error = SyncTransportError("connection_error", "reset")
    assert not policy(max_attempts=3).should_retry(3, error, started=0, now=0)
    assert not policy(deadline=5).should_retry(1, error, started=0, now=4.8)
    assert policy(deadline=5).should_retry(1, error, started=0, now=4.0)


def test_a_retry_after_longer_than_the_cap_is_handed_back_to_the_caller_at_once() -> None:
    """Sleeping 30 s to hear "come back in 40 minutes" again helps nobody: the step waits instead."""
    hourly = SyncApiError(429, "rate_limit_exceeded", "clones", retry_after=2400)
    assert not policy().should_retry(1, hourly, started=0.0, now=0.0)
    assert policy().should_retry(1, SyncApiError(429, "rate_limit_exceeded", "x", retry_after=7), 0.0, now=0.0)
