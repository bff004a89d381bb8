"""The steps of a job. Each takes the job state and what it needs, and returns the state moved on.

Steps are safe to run twice (Step Functions retries them): uploads make new assets, the clone name
and the generation's Idempotency-Key are derived from the job id, and results overwrite themselves.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from revoice.pipeline import layout
from revoice.pipeline.errors import SyncStepError, TransientStepError, from_sync
from revoice.pipeline.ingest import checked_video
from revoice.pipeline.state import (
    Assets,
    GenerationState,
    JobState,
    PushedVideo,
    TtsState,
    utcnow,
)
from revoice.pipeline.stores import JobTable, ObjectStore
from revoice.sync.errors import BUSY_CODES, SyncApiError, SyncError

if TYPE_CHECKING:
    from revoice.pipeline.slots import GenerationSlots
    from revoice.sync.client import SyncClient
from revoice.sync.models import GenerateRequest, MediaInput, TextInput, TtsJob, TtsProvider, TtsRequest


def push_media(state: JobState, *, store: ObjectStore, sync: SyncClient, jobs: JobTable) -> JobState:
    """Stream the source and target from S3 into sync. labs storage (once when they are the same).

    The source is hashed on its way through, so a later job can recognise the same audio and reuse
    its clone whatever the object is called.
    """
    jobs.entered(state.job.id, "push")
    started = utcnow()
    pushed: dict[str, PushedVideo] = {}
    for role, key in (("source", state.manifest.source), ("target", state.manifest.target_key)):
        if key in pushed:
            continue
        info = checked_video(role, key, store, state.config.max_upload_bytes)
        hashed = _HashingOpener(store, key)
        try:
            asset = sync.upload(
                hashed,
                size=info.size,
                file_name=posixpath.basename(key),
                content_type=layout.content_type(key),
                asset_type="VIDEO",
                name=f"{state.job.id}-{role}",
            )
        except SyncError as error:
            raise from_sync(error, f"uploading the {role} video {key}") from error
        pushed[key] = PushedVideo(
            key=key,
            size=info.size,
            etag=info.etag,
            asset_id=asset.id,
            url=asset.url or "",
            duration_seconds=asset.duration_seconds,
            sha256=hashed.hexdigest(),
        )
    state.assets = Assets(
        source=pushed[state.manifest.source],
        target=pushed[state.manifest.target_key],
        started_at=started,
        finished_at=utcnow(),
    )
    return state


class _HashingOpener:
    """Opens the object for each upload attempt and hashes what the last attempt read."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store, self._key = store, key
        self._digest = hashlib.sha256()

    def __call__(self) -> IO[bytes]:
        self._digest = hashlib.sha256()
        return _Hashing(self._store.open(self._key), self._digest)  # type: ignore[return-value]

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _Hashing:
    def __init__(self, stream: IO[bytes], digest: Any) -> None:
        self._stream, self._digest = stream, digest

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        return chunk

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.close()


def speak(state: JobState, *, sync: SyncClient, jobs: JobTable) -> JobState:
    """Start text-to-speech in the job's voice, or check on it; fail the job if it failed."""
    assert state.voice is not None
    try:
        if state.tts is None:
            jobs.entered(state.job.id, "speech")
            started = utcnow()
            request = TtsRequest(
                script=state.manifest.script,
                voice_id=state.voice.id,
                stability=state.manifest.stability,
                similarity_boost=state.manifest.similarity_boost,
            )
            job = sync.start_tts(request, idempotency_key=state.job.id)
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
        url=job.url,
        duration=job.duration,
        error=job.error,
        started_at=started,
        finished_at=utcnow() if job.finished else None,
    )
    jobs.sync_status(state.job.id, f"TTS {job.status}")
    if job.finished and not job.succeeded:
        raise SyncStepError(job.error_code or "tts_failed", f"speech synthesis ended {job.status}: {job.error}")
    return state


def lipsync(
    state: JobState, *, sync: SyncClient, jobs: JobTable, slots: GenerationSlots, wake: Callable[[str], bool]
) -> JobState:
    """Start the generation (idempotent by job id) once the job holds one of the plan's generation
    slots, or check on it (an ended one gives its slot back at once). Without a free slot, or when
    sync. labs still answers 429, the job comes back without a generation and the state machine waits
    and asks again."""
    assert state.assets is not None
    assert state.voice is not None
    try:
        if state.generation is None:
            if state.generation_waits == 0:
                jobs.entered(state.job.id, "lipsync")
            if not slots.acquire(state.job.id):
                return _wait(state, jobs, "slot", f"all {slots.limit} generation slots of the plan are in use")
            if state.generation_waiting_since is not None:
                slots.leave_line(state.job.id, state.generation_waiting_since)
            started = utcnow()
            generation = sync.create_generation(generation_request(state), idempotency_key=state.job.id)
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
    state.generation = GenerationState(
        id=generation.id,
        status=generation.status,
        model=generation.model or state.config.model,
        done=generation.finished,
        succeeded=generation.succeeded,
        polls=polls,
        output_url=generation.output_url,
        output_duration=generation.output_duration,
        synthesized_audio_url=generation.synthesized_audio_url,
        error=generation.error,
        error_code=generation.error_code,
        started_at=started,
        finished_at=utcnow() if generation.finished else None,
    )
    jobs.sync_status(state.job.id, f"generation {generation.status}")
    if generation.finished:
        slots.hand_over(state.job.id, wake)
    return state


def _wait(state: JobState, jobs: JobTable, waiting_for: Literal["slot", "sync"], why: str) -> JobState:
    state.generation_waits += 1
    state.waiting_for = waiting_for
    state.generation_waiting_since = state.generation_waiting_since or utcnow()
    jobs.sync_status(state.job.id, f"waiting to start the generation: {why}")
    return state


def join_the_line(state: JobState, task_token: str, *, slots: GenerationSlots, wake: Callable[[str], bool]) -> str:
    """Wait for a generation slot, in line by when the job first asked for one.

    A slot given back between the job's failed attempt and now would wake nobody, so the line is
    checked once more on the way in: if a slot is free, the longest-waiting job (maybe this one) goes.
    """
    assert state.generation_waiting_since is not None
    slots.wait(state.job.id, state.generation_waiting_since, task_token)
    return "woken at once" if slots.wake_next(wake) == state.job.id else "in line"


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


def store_results(state: JobState, *, store: ObjectStore, sync: SyncClient, jobs: JobTable) -> dict[str, Any]:
    """Copy the output video and the speech into ``results/<job>/``, then write ``result.json`` last."""
    assert state.generation is not None
    assert state.generation.output_url is not None
    jobs.entered(state.job.id, "store")
    started = utcnow()
    job_id = state.job.id
    copy = _copier(store, sync)
    copy(state.generation.output_url, layout.output_key(job_id), "video/mp4")
    speech_url = state.tts.url if state.tts is not None else _synthesized_audio(state, sync)
    speech = None
    if speech_url:
        speech = layout.speech_key(job_id, layout.suffix(urlsplit(speech_url).path))
        copy(speech_url, speech, layout.content_type(speech))
    result = result_document(state, speech_key=speech, store_started=started)
    jobs.succeeded(job_id, layout.result_key(job_id))
    store.put_json(layout.result_key(job_id), result)
    return result


def _synthesized_audio(state: JobState, sync: SyncClient) -> str | None:
    """The speech sync. labs made from a text input: the webhook does not carry it, the generation does."""
    assert state.generation is not None
    if state.generation.synthesized_audio_url or state.manifest.speech != "text":
        return state.generation.synthesized_audio_url
    try:
        return sync.get_generation(state.generation.id).synthesized_audio_url
    except SyncError as error:
        raise from_sync(error, "reading the synthesized speech's URL") from error


def _copier(store: ObjectStore, sync: SyncClient) -> Callable[[str, str, str], None]:
    def copy(url: str, key: str, content_type: str) -> None:
        import httpx  # only the store step downloads

        try:
            with sync.open_download(url) as stream:
                store.upload_stream(key, stream, content_type)
        except SyncError as error:
            raise from_sync(error, f"downloading {key.rsplit('/', 1)[-1]}") from error
        except httpx.HTTPError as error:
            raise TransientStepError("download_interrupted", f"copying {key} was interrupted ({error})") from error

    return copy


def result_document(state: JobState, *, speech_key: str | None, store_started: str) -> dict[str, Any]:
    assert state.assets is not None
    assert state.voice is not None
    assert state.generation is not None
    timings = {
        "push": _seconds(state.assets.started_at, state.assets.finished_at),
        "voice": _seconds(state.voice.started_at, state.voice.finished_at),
        "speech": _seconds(state.tts.started_at, state.tts.finished_at) if state.tts else None,
        "lipsync": _seconds(state.generation.started_at, state.generation.finished_at),
        "store": _seconds(store_started, utcnow()),
        "total": _seconds(state.job.received_at, utcnow()),
    }
    return {
        "jobId": state.job.id,
        "status": "SUCCEEDED",
        "trigger": {"bucket": state.job.bucket, "key": state.job.key, "version": state.job.version},
        "inputs": {
            "source": state.manifest.source,
            "target": state.manifest.target_key,
            "scriptCharacters": len(state.manifest.script),
            "speech": state.manifest.speech,
            "model": state.config.model,
            "syncMode": state.manifest.sync_mode,
        },
        "voice": {
            "id": state.voice.id,
            "name": state.voice.name,
            "cloned": state.voice.cloned,
            "ephemeral": state.voice.ephemeral,
        },
        "tts": None
        if state.tts is None
        else {
            "id": state.tts.id,
            "status": state.tts.status,
            "duration": state.tts.duration,
            "url": strip_signature(state.tts.url),
        },
        "generation": {
            "id": state.generation.id,
            "status": state.generation.status,
            "model": state.generation.model,
            "outputDuration": state.generation.output_duration,
            "polls": state.generation.polls,
            "outputUrl": strip_signature(state.generation.output_url),
        },
        "assets": {"source": state.assets.source.asset_id, "target": state.assets.target.asset_id},
        "outputs": {"video": layout.output_key(state.job.id), "speech": speech_key},
        "timings": {k: v for k, v in timings.items() if v is not None},
        "finishedAt": utcnow(),
    }


def strip_signature(url: str | None) -> str | None:
    """A URL without its query string: signed URLs expire and must not be kept as credentials."""
    if url is None:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round(
        (
            datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
        ).total_seconds(),
        3,
    )
