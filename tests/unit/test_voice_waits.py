"""When the voice step cannot have a voice yet, it says how long the state machine should wait."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from revoice.pipeline.state import JobState, RunConfig
from revoice.pipeline.voice_lifecycle import MAX_VOICE_WAIT_SECONDS, ensure_voice
from revoice.sync.errors import SyncApiError

EVENTS = Path(__file__).resolve().parents[2] / "events"


class _Jobs:
    def entered(self, job_id: str, step: str) -> None:
        pass


class _RateLimitedSync:
    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after

    def clone_voice(self, name: str, **_: Any) -> None:
        raise SyncApiError(429, "rate_limit_exceeded", "10 clones an hour", retry_after=self.retry_after)


def _fresh_voice_job() -> JobState:
    event = json.loads((EVENTS / "state-voice.json").read_text())
    event["manifest"]["voice"] = "fresh"
    return JobState.model_validate(event)


def _ask_for_a_voice(retry_after: float | None) -> JobState:
    return ensure_voice(
        _fresh_voice_job(),
        sync=cast(Any, _RateLimitedSync(retry_after)),
        registry=cast(Any, None),  # never reached: cloning comes first for a fresh voice
        jobs=cast(Any, _Jobs()),
    )


@pytest.mark.parametrize(("retry_after", "wait"), [(2400.2, 2401), (0.3, 1), (7200, MAX_VOICE_WAIT_SECONDS)])
def test_the_hourly_clone_limit_makes_the_job_wait_as_long_as_sync_labs_says(retry_after: float, wait: int) -> None:
    state = _ask_for_a_voice(retry_after)
    assert state.voice is None
    assert (state.voice_waits, state.voice_wait_seconds) == (1, wait)


def test_the_documented_429_without_retry_after_waits_for_the_clone_window_instead_of_failing() -> None:
    """The rate-limit pages document the body only: 10 clones an hour, and no word of when."""
    from revoice.pipeline.voice_lifecycle import CLONE_WINDOW_WAIT_SECONDS

    state = _ask_for_a_voice(None)
    assert state.voice is None
    assert (state.voice_waits, state.voice_wait_seconds) == (1, CLONE_WINDOW_WAIT_SECONDS)
    assert CLONE_WINDOW_WAIT_SECONDS * RunConfig().max_slot_waits >= 3600  # by default the waits outlast the hour
