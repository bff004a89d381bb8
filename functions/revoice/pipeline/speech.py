"""The speech step: text-to-speech of the script in the job's voice, started once and checked on.

The TTS request's Idempotency-Key is the job id, so a retried start finds the same TTS job. Speech is
usually ready within seconds, so the step that starts it checks again every half second for as long as
the state machine would wait before its first check: a quick TTS goes on at once, without the Wait state
and the second invocation (and their transitions) a slower one still takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from revoice.pipeline.clock import now
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import SyncStepError, from_sync
from revoice.pipeline.ports import JobRecords
from revoice.pipeline.state import JobState, TtsState
from revoice.sync.errors import SyncError
from revoice.sync.models import TtsJob, TtsRequest

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi


INLINE_CHECK_SECONDS = 0.5


def speak(state: JobState, *, sync: SyncApi, jobs: JobRecords, pause: Callable[[float], None] = time.sleep) -> JobState:
    """Start text-to-speech in the job's voice, or check on it; fail the job if it failed."""
    assert state.voice is not None
    try:
        if state.tts is None:
            jobs.entered(state.job.id, Step.SPEECH)
            started = now()
            request = TtsRequest(
                script=state.manifest.script,
                voice_id=state.voice.id,
                stability=state.manifest.stability,
                similarity_boost=state.manifest.similarity_boost,
            )
            job = sync.start_tts(request, idempotency_key=state.job.request_key)
            waited = 0.0
            while not job.finished and waited + INLINE_CHECK_SECONDS <= state.config.tts_poll_seconds:
                pause(INLINE_CHECK_SECONDS)
                waited += INLINE_CHECK_SECONDS
                job = sync.get_tts(job)
        else:
            started = state.tts.started_at
            job = sync.get_tts(TtsJob(id=state.tts.id, status=state.tts.status, endpoint=state.tts.endpoint))
    except SyncError as error:
        raise from_sync(error, "synthesizing the script") from error
    polls = 0 if state.tts is None else state.tts.polls + 1
    state.tts = TtsState(
        id=job.id,
        endpoint=job.endpoint,
        status=job.status,
        done=job.finished,
        polls=polls,
        polls_used_up=polls >= state.config.max_tts_polls,
        url=job.url,
        duration=job.duration,
        error=job.error,
        started_at=started,
        finished_at=now() if job.finished else None,
    )
    jobs.sync_status(state.job.id, f"TTS {job.status}")
    if job.finished and not job.succeeded:
        raise SyncStepError(job.error_code or "tts_failed", f"speech synthesis ended {job.status}: {job.error}")
    return state
