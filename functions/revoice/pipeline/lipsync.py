"""The lip-sync step: a generation slot of the plan, the generation started in it, and checks on it.

The generation's Idempotency-Key is the job id, so a retried start finds the same generation. Jobs
without a free slot wait in line by when they first asked, with the generation they will ask for; an
ended generation gives its slot to the longest-waiting job at once, and whoever saw it end starts that
job's generation and wakes the job with it (a job woken without one asks for it itself, and finds it
if it was started).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from revoice.pipeline.clock import Timestamp, now, stamp
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import from_sync
from revoice.pipeline.ports import GenerationStart, JobRecords
from revoice.pipeline.state import GenerationState, JobState, wire
from revoice.sync.errors import BUSY_CODES, SyncApiError, SyncError
from revoice.sync.models import GenerateRequest, Generation, MediaInput, TextInput, TtsProvider

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi
    from revoice.pipeline.slots import GenerationSlots, StartGeneration, Wake, WokenWith

log = logging.getLogger(__name__)


def lipsync(state: JobState, *, sync: SyncApi, jobs: JobRecords, slots: GenerationSlots, wake: Wake) -> JobState:
    """Start the generation (idempotent by job id) once the job holds one of the plan's generation
    slots, or check on it (an ended one gives its slot back at once). Without a free slot, or when
    sync. labs still answers 429, the job comes back without a generation and the state machine waits
    and asks again."""
    assert state.assets is not None
    assert state.voice is not None
    try:
        if state.generation is None:
            if state.generation_waits == 0:
                jobs.entered(state.job.id, Step.LIPSYNC)
            if not slots.acquire(state.job.id):
                return _wait(state, jobs, "slot", f"all {slots.limit} generation slots of the plan are in use")
            if state.generation_waiting_since is not None:
                slots.leave_line(state.job.id, stamp(state.generation_waiting_since))
            started = now()
            generation = sync.create_generation(generation_request(state), idempotency_key=state.job.request_key)
        else:
            started = state.generation.started_at
            generation = sync.get_generation(state.generation.id)
    except SyncApiError as error:
        if state.generation is None and error.error_code in BUSY_CODES:
            return _wait(state, jobs, "sync", f"sync. labs answered {error.error_code}")
        raise from_sync(error, "lip-syncing the video") from error
    except SyncError as error:
        raise from_sync(error, "lip-syncing the video") from error
    polls = 0 if state.generation is None else state.generation.polls + 1
    state.generation = generation_section(
        generation, model=state.config.model, started=started, polls=polls, max_polls=state.config.max_generation_polls
    )
    jobs.sync_status(state.job.id, f"generation {generation.status}")
    if generation.finished:
        slots.hand_over(state.job.id, wake, generation_starter(sync))
    return state


def _wait(state: JobState, jobs: JobRecords, waiting_for: Literal["slot", "sync"], why: str) -> JobState:
    state.generation_waits += 1
    state.waiting_for = waiting_for
    state.generation_waiting_since = state.generation_waiting_since or now()
    jobs.sync_status(state.job.id, f"waiting to start the generation: {why}")
    return state


def generation_section(
    generation: Generation, *, model: str, started: Timestamp, polls: int = 0, max_polls: int | None = None
) -> GenerationState:
    """The job's ``generation`` section for what sync. labs answered (a hand-over does not know the job's
    poll limit: its first check counts against it)."""
    return GenerationState(
        id=generation.id,
        status=generation.status,
        model=generation.model or model,
        done=generation.finished,
        succeeded=generation.succeeded,
        polls=polls,
        polls_used_up=max_polls is not None and polls >= max_polls,
        output_url=generation.output_url,
        output_duration=generation.output_duration,
        synthesized_audio_url=generation.synthesized_audio_url,
        error=generation.error,
        error_code=generation.error_code,
        started_at=started,
        finished_at=now() if generation.finished else None,
    )


def join_the_line(state: JobState, task_token: str, *, slots: GenerationSlots, wake: Wake) -> str:
    """Wait for a generation slot, in line by when the job first asked for one.

    A slot given back between the job's failed attempt and now would wake nobody, so the line is
    checked once more on the way in: if a slot is free, the longest-waiting job (maybe this one) goes.
    A slot passed to the job while its last wait had timed out (with its generation started) is its
    own: it goes on at once, and asking again finds both.
    """
    assert state.generation_waiting_since is not None
    since = stamp(state.generation_waiting_since)
    start = GenerationStart(generation_request(state).wire(), state.job.request_key)
    slots.wait(state.job.id, since, task_token, start)
    holders = slots.holders()
    if state.job.id in holders:
        slots.leave_line(state.job.id, since)
        wake(task_token, None)
        return "holds a slot already"
    return "woken at once" if slots.wake_next(wake, holders) == state.job.id else "in line"


def generation_starter(sync: SyncApi) -> StartGeneration:
    """Starts a woken job's generation as the job itself would, once: the job wakes with its
    ``generation`` section. Whatever goes wrong is left to the job's own request (it retries, waits for
    sync. labs or fails, as always)."""

    def start(waiting: GenerationStart) -> WokenWith | None:
        try:
            request = GenerateRequest.model_validate(waiting.request)
            started = now()
            generation = sync.create_generation(request, idempotency_key=waiting.idempotency_key, once=True)
        except SyncError as error:
            log.info("the woken job starts its generation itself", extra={"error_code": error.error_code})
            return None
        except ValueError:  # pydantic's: a request in line that no longer reads as one
            log.warning("a waiting job's generation request did not validate; the job starts its own")
            return None
        section = generation_section(generation, model=request.model, started=started)
        section.handed_over = True
        return wire(section)

    return start


def generation_request(state: JobState) -> GenerateRequest:
    assert state.assets is not None
    assert state.voice is not None
    video = MediaInput(type="video", asset_id=state.assets.target.asset_id)
    if state.manifest.speech == "text":
        sound: MediaInput | TextInput = TextInput(
            provider=TtsProvider(
                voice_id=state.voice.id,
                script=state.manifest.script,
                stability=state.manifest.stability,
                similarity_boost=state.manifest.similarity_boost,
            )
        )
    else:
        assert state.tts is not None
        sound = MediaInput(type="audio", url=state.tts.url)
    return GenerateRequest(
        model=state.config.model,
        input=[video, sound],
        options={"sync_mode": state.manifest.sync_mode},
        webhook_url=state.config.webhook_url,
        output_file_name=state.manifest.output_name,
    )
