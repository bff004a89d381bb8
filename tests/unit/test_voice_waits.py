"""When the voice step cannot have a voice yet, it says how long the state machine should wait."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoice.pipeline import voice
from revoice.pipeline.state import JobState, RunConfig
from revoice.pipeline.voice import MAX_SLOTS_FREED, MAX_VOICE_WAIT_SECONDS, ensure_voice
from revoice.sync.errors import SyncApiError
from revoice.sync.models import Voice
from tests.fake_sync import FakeSyncLabs
from tests.fakes import MemoryJobs, MemoryVoices

EVENTS = Path(__file__).resolve().parents[2] / "events"


class _RateLimitedSync(FakeSyncLabs):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__()
        self.retry_after = retry_after

    def clone_voice(self, name: str, *, asset_id: str | None = None, url: str | None = None) -> Voice:
        raise SyncApiError(429, "rate_limit_exceeded", "10 clones an hour", retry_after=self.retry_after)


def _fresh_voice_job() -> JobState:
    event = json.loads((EVENTS / "state-voice.json").read_text())
    event["manifest"]["voice"] = "fresh"
    return JobState.model_validate(event)


def _ask_for_a_voice(retry_after: float | None) -> JobState:
    return ensure_voice(
        _fresh_voice_job(),
        sync=_RateLimitedSync(retry_after),
        registry=MemoryVoices(),
        jobs=MemoryJobs(),
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


class _FullSlots(FakeSyncLabs):
    """Every clone answers 403 until ``free_after`` slots were freed (other jobs took the earlier ones)."""

    def __init__(self, free_after: int) -> None:
        super().__init__()
        self.free_after = free_after
        self.freed = 0
        self.clones = 0

    def clone_voice(self, name: str, *, asset_id: str | None = None, url: str | None = None) -> Voice:
        self.clones += 1
        if self.freed < self.free_after:
            raise SyncApiError(403, "voice_clone_limit_reached", "All 5 clone slots are in use")
        return Voice(id="cloned", name=name)

    def free_a_slot(self, *_: Any) -> str:
        self.freed += 1
        return f"idle-{self.freed}"


def _clone_into_full_slots(sync: _FullSlots, registry: MemoryVoices, monkeypatch: pytest.MonkeyPatch) -> JobState:
    monkeypatch.setattr(voice, "free_a_slot", sync.free_a_slot)
    return ensure_voice(_fresh_voice_job(), sync=sync, registry=registry, jobs=MemoryJobs())


def test_a_clone_slot_freed_and_taken_by_another_job_is_freed_again_and_the_clone_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync, registry = _FullSlots(free_after=MAX_SLOTS_FREED), MemoryVoices()
    state = _clone_into_full_slots(sync, registry, monkeypatch)
    assert state.voice is not None
    assert state.voice.cloned
    assert (sync.freed, sync.clones, list(registry.records)) == (MAX_SLOTS_FREED, MAX_SLOTS_FREED + 1, ["cloned"])


def test_slots_taken_as_fast_as_the_job_frees_them_make_it_wait_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    sync, registry = _FullSlots(free_after=MAX_SLOTS_FREED + 1), MemoryVoices()
    state = _clone_into_full_slots(sync, registry, monkeypatch)
    assert state.voice is None  # busy, like slots held by running jobs: the state machine waits and asks again
    assert (state.voice_waits, state.voice_wait_seconds) == (1, state.config.slot_wait_seconds)
    assert (sync.freed, list(registry.records)) == (MAX_SLOTS_FREED, [])
