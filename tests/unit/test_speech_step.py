"""The speech step checks a TTS it started for as long as the state machine would wait before its first
check: a quick one goes on at once, a slow one comes back to the machine's Wait as before."""

from __future__ import annotations

from revoice.pipeline.speech import INLINE_CHECK_SECONDS, speak
from revoice.pipeline.state import JobState
from tests.fakes import World
from tests.unit.conftest import event


def _starting(poll_seconds: int) -> JobState:
    state = JobState.model_validate(event("state-speech-start.json"))
    state.config.tts_poll_seconds = poll_seconds
    return state


def test_a_quick_tts_is_ready_when_the_step_that_started_it_ends(world: World) -> None:
    pauses: list[float] = []
    done = speak(_starting(3), sync=world.sync, jobs=world.jobs, pause=pauses.append)
    assert done.tts is not None
    assert done.tts.done  # no Wait state, no second invocation
    assert pauses == [INLINE_CHECK_SECONDS]


def test_a_slow_tts_is_checked_for_the_machines_wait_and_then_handed_back(world: World) -> None:
    world.sync.polls = 100
    pauses: list[float] = []
    started = speak(_starting(3), sync=world.sync, jobs=world.jobs, pause=pauses.append)
    assert started.tts is not None
    assert not started.tts.done
    assert sum(pauses) == 3  # never longer than the state machine's own wait
    assert started.tts.polls == 0  # the machine's polling budget is untouched
