"""When the voice step cannot have a voice yet, it says how long the state machine should wait."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from revoice.pipeline import voice
from revoice.pipeline.state import JobState, RunConfig
from revoice.pipeline.voice import MAX_SLOTS_FREED, MAX_VOICE_WAIT_SECONDS, ensure_voice
from revoice.sync.errors import SyncApiError
from revoice.sync.models import Voice

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
    from revoice.pipeline.voice import CLONE_WINDOW_WAIT_SECONDS

    state = _ask_for_a_voice(None)
    assert state.voice is None
    assert (state.voice_waits, state.voice_wait_seconds) == (1, CLONE_WINDOW_WAIT_SECONDS)
    assert CLONE_WINDOW_WAIT_SECONDS * RunConfig().max_slot_waits >= 3600  # by default the waits outlast the hour


class _FullSlots:
    """Every clone answers 403 until ``free_after`` slots were freed (other jobs took the earlier ones)."""

    def __init__(self, free_after: int) -> None:
        self.free_after = free_after
        self.freed = 0
        self.clones = 0

    def clone_voice(self, name: str, **_: Any) -> Voice:
        self.clones += 1
        if self.freed < self.free_after:
            raise SyncApiError(403, "voice_clone_limit_reached", "All 5 clone slots are in use")
        return Voice(id="cloned", name=name)

    def free_a_slot(self, *_: Any) -> str:
        self.freed += 1
        return f"idle-{self.freed}"


class _Registry:
    def __init__(self) -> None:
        self.recorded: list[str] = []

    def record(self, voice_id: str, name: str, **_: Any) -> None:
        self.recorded.append(voice_id)


class _RunningJobs(_Jobs):
    def is_running(self, job_id: str) -> bool:
        return True

    def holding_voice(self, job_id: str, voice_id: str) -> None:
        pass


def _clone_into_full_slots(sync: _FullSlots, registry: _Registry, monkeypatch: pytest.MonkeyPatch) -> JobState:
    monkeypatch.setattr(voice, "free_a_slot", sync.free_a_slot)
    return ensure_voice(
        _fresh_voice_job(), sync=cast(Any, sync), registry=cast(Any, registry), jobs=cast(Any, _RunningJobs())
    )


def test_a_clone_slot_freed_and_taken_by_another_job_is_freed_again_and_the_clone_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync, registry = _FullSlots(free_after=MAX_SLOTS_FREED), _Registry()
    state = _clone_into_full_slots(sync, registry, monkeypatch)
    assert state.voice is not None
    assert state.voice.cloned
    assert (sync.freed, sync.clones, registry.recorded) == (MAX_SLOTS_FREED, MAX_SLOTS_FREED + 1, ["cloned"])


def test_slots_taken_as_fast_as_the_job_frees_them_make_it_wait_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    sync, registry = _FullSlots(free_after=MAX_SLOTS_FREED + 1), _Registry()
    state = _clone_into_full_slots(sync, registry, monkeypatch)
    assert state.voice is None  # busy, like slots held by running jobs: the state machine waits and asks again
    assert (state.voice_waits, state.voice_wait_seconds) == (1, state.config.slot_wait_seconds)
    assert (sync.freed, registry.recorded) == (MAX_SLOTS_FREED, [])
