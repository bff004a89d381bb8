"""The store step: the output video and the speech copied into ``results/<job>/``, ``result.json`` last.

Safe to run twice: every object overwrites itself, and ``result.json``, whose presence means the job
succeeded, is written only once the rest is in place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from revoice.pipeline import layout
from revoice.pipeline.clock import now, seconds_between, stamp
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import TransientStepError, from_sync
from revoice.pipeline.ports import JobRecords, ObjectStore
from revoice.pipeline.state import JobState
from revoice.sync.errors import SyncError

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi


def store_results(state: JobState, *, store: ObjectStore, sync: SyncApi, jobs: JobRecords) -> dict[str, Any]:
    """Copy the output video and the speech into ``results/<job>/``, then write ``result.json`` last."""
    assert state.generation is not None
    assert state.generation.output_url is not None
    jobs.entered(state.job.id, Step.STORE)
    started = now()
    job_id = state.job.id
    copy = _copier(store, sync)
    copy(state.generation.output_url, layout.output_key(job_id), "video/mp4")
    speech_url = state.tts.url if state.tts is not None else _synthesized_audio(state, sync)
    speech = None
    if speech_url:
        speech = layout.speech_key(job_id, layout.suffix(urlsplit(speech_url).path))
        copy(speech_url, speech, layout.content_type(speech))
    result = result_document(state, speech_key=speech, store_started=started)
    store.put_json(layout.result_key(job_id), result)
    jobs.succeeded(job_id, layout.result_key(job_id))  # after result.json: GET /jobs answers SUCCEEDED with it
    return result


def _synthesized_audio(state: JobState, sync: SyncApi) -> str | None:
    """The speech sync. labs made from a text input: the webhook does not carry it, the generation does."""
    assert state.generation is not None
    if state.generation.synthesized_audio_url or state.manifest.speech != "text":
        return state.generation.synthesized_audio_url
    try:
        return sync.get_generation(state.generation.id).synthesized_audio_url
    except SyncError as error:
        raise from_sync(error, "reading the synthesized speech's URL") from error


def _copier(store: ObjectStore, sync: SyncApi) -> Callable[[str, str, str], None]:
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


def result_document(state: JobState, *, speech_key: str | None, store_started: datetime) -> dict[str, Any]:
    assert state.assets is not None
    assert state.voice is not None
    assert state.generation is not None
    timings = {
        "push": seconds_between(state.assets.started_at, state.assets.finished_at),
        "voice": seconds_between(state.voice.started_at, state.voice.finished_at),
        "speech": seconds_between(state.tts.started_at, state.tts.finished_at) if state.tts else None,
        "lipsync": seconds_between(state.generation.started_at, state.generation.finished_at),
        "store": seconds_between(store_started, now()),
        "total": seconds_between(state.job.received_at, now()),
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
        "finishedAt": stamp(),
    }


def strip_signature(url: str | None) -> str | None:
    """A URL without its query string: signed URLs expire and must not be kept as credentials."""
    if url is None:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
