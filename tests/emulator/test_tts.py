"""Text to speech in each documented shape, with real audio whose length follows the script."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from revoice.sync import SyncApiError, SyncClient, SyncJobFailed
from revoice.sync.models import TtsRequest
from revoice_local import media
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.server import EmulatorServer
from revoice_local.emulator.tts import Speech
from tests.conftest import Samples, fast_client, upload

SHORT = "Short line."
LONG = "This is a much longer line of speech, with several clauses, and it should take far longer to say aloud."


def _duration(client: SyncClient, url: str, tmp_path: Path) -> float:
    target = tmp_path / "speech.wav"
    with target.open("wb") as sink:
        client.download(url, sink)
    info = media.probe(target, ".wav")
    assert info is not None
    assert info.has_audio
    return info.duration


def _voice(client: SyncClient) -> str:
    return str(client.list_voices()[0].id)


@pytest.mark.parametrize(
    ("settings", "endpoint"),
    [
        ({}, "jobs"),
        ({"tts_jobs_enabled": False, "tts_shape": "sync"}, "tts"),
        ({"tts_jobs_enabled": False, "tts_shape": "seed"}, "tts"),
    ],
)
def test_every_tts_shape_ends_with_real_audio_that_follows_the_script(
    emulator_factory: Callable[..., EmulatorServer], tmp_path: Path, settings: dict[str, object], endpoint: str
) -> None:
    with fast_client(emulator_factory(**settings)) as client:
        voice = _voice(client)
        short = client.synthesize(TtsRequest(script=SHORT, voice_id=voice), poll_seconds=0.01)
        long = client.synthesize(TtsRequest(script=LONG, voice_id=voice), poll_seconds=0.01)
        assert (short.endpoint, long.endpoint) == (endpoint, endpoint)
        assert short.url
        assert long.url
        assert _duration(client, long.url, tmp_path) > 3 * _duration(client, short.url, tmp_path)


def test_the_synchronous_shape_is_finished_when_created(emulator_factory: Callable[..., EmulatorServer]) -> None:
    with fast_client(emulator_factory(tts_jobs_enabled=False)) as client:
        job = client.start_tts(TtsRequest(script=SHORT, voice_id=_voice(client)))
    assert job.finished
    assert job.duration


def test_the_jobs_shape_answers_202_with_location_and_retry_after(emulator: EmulatorServer) -> None:
    headers = {"x-api-key": emulator.config.api_key}
    voice = httpx.get(f"{emulator.url}/v2/voices", headers=headers).json()[0]["id"]
    answer = httpx.post(f"{emulator.url}/v2/tts/jobs", headers=headers, json={"script": SHORT, "voiceId": voice})
    assert answer.status_code == 202
    job = answer.json()
    assert answer.headers["location"] == f"/v2/tts/jobs/{job['id']}"
    assert answer.headers["retry-after"] == "3"
    assert set(job) == {"id", "status", "url", "duration", "error", "createdAt", "startedAt", "finishedAt"}


def test_an_idempotency_key_returns_the_same_tts_job(emulator: EmulatorServer) -> None:
    headers = {"x-api-key": emulator.config.api_key, "Idempotency-Key": "tts-1"}
    voice = httpx.get(f"{emulator.url}/v2/voices", headers=headers).json()[0]["id"]
    first = httpx.post(f"{emulator.url}/v2/tts/jobs", headers=headers, json={"script": SHORT, "voiceId": voice})
    again = httpx.post(f"{emulator.url}/v2/tts/jobs", headers=headers, json={"script": SHORT, "voiceId": voice})
    other = httpx.post(f"{emulator.url}/v2/tts/jobs", headers=headers, json={"script": LONG, "voiceId": voice})
    assert first.json()["id"] == again.json()["id"]
    assert (other.status_code, other.json()["errorCode"]) == (409, "idempotency_key_conflict")


def test_an_unknown_voice_is_a_422(client: SyncClient) -> None:
    with pytest.raises(SyncApiError) as caught:
        client.start_tts(TtsRequest(script=SHORT, voice_id="no-such-voice"))
    assert (caught.value.status_code, caught.value.error_code) == (422, "voice_not_found")


@pytest.mark.parametrize("script", ["", "x" * 5001])
def test_scripts_outside_one_to_five_thousand_characters_are_a_400(client: SyncClient, script: str) -> None:
    with pytest.raises(SyncApiError) as caught:
        client._json("POST", "/v2/tts/jobs", json={"script": script, "voiceId": _voice(client)})
    assert (caught.value.status_code, caught.value.error_code) == (400, "bad_request")
    assert "script must be 1-5000 characters" in caught.value.message


def test_a_failed_tts_job_raises_with_its_error_code(emulator_factory: Callable[..., EmulatorServer]) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="tts", kind="fail", error_code="elevenlabs_quota_exceeded")])
    with fast_client(emulator) as client, pytest.raises(SyncJobFailed) as caught:
        client.synthesize(TtsRequest(script=SHORT, voice_id=_voice(client)), poll_seconds=0.01)
    assert (caught.value.status, caught.value.error_code) == ("FAILED", "elevenlabs_quota_exceeded")
    assert "elevenlabs_quota_exceeded" in caught.value.message


@pytest.mark.parametrize("shape", ["object", "string"])
def test_a_failed_tts_jobs_error_comes_as_the_references_object_or_as_text(
    emulator_factory: Callable[..., EmulatorServer], shape: str
) -> None:
    emulator = emulator_factory(tts_error_shape=shape, faults=[FaultRule(target="tts", kind="fail", error_code="x_y")])
    with fast_client(emulator) as client:
        job = client.start_tts(TtsRequest(script=SHORT, voice_id=_voice(client)), shape="jobs")
        while not job.finished:
            job = client.get_tts(job)
        raw = client._json("GET", f"/v2/tts/jobs/{job.id}")
    assert isinstance(raw["error"], dict if shape == "object" else str)
    assert (job.status, job.error) == ("FAILED", "Speech synthesis failed (x_y)")
    assert job.error_code == ("x_y" if shape == "object" else None)


def test_jobs_not_enabled_is_a_503_on_the_jobs_endpoint(emulator_factory: Callable[..., EmulatorServer]) -> None:
    with fast_client(emulator_factory(tts_jobs_enabled=False)) as client, pytest.raises(SyncApiError) as caught:
        client.start_tts(TtsRequest(script=SHORT, voice_id=_voice(client)), shape="jobs")
    assert (caught.value.status_code, caught.value.error_code) == (503, "tts_jobs_not_enabled")


def test_a_burst_of_speech_waits_its_turn_without_holding_the_threads_an_upload_needs(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eSpeak says one script at a time: requests waiting for it filled asyncio's shared pool, so a
    generation's render or an upload's probe waited behind a campaign's lines."""
    speaking, started, release = [], threading.Event(), threading.Event()
    say = Speech.render

    def held(self: Speech, job_id: str, script: str, voice_id: str) -> tuple[str, float]:
        speaking.append(threading.current_thread().name)
        started.set()
        release.wait(timeout=30)
        return say(self, job_id, script, voice_id)

    monkeypatch.setattr(Speech, "render", held)
    with (
        fast_client(emulator_factory(tts_jobs_enabled=False, tts_shape="sync")) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        voice = _voice(client)
        speeches = [pool.submit(client.start_tts, TtsRequest(script=SHORT, voice_id=voice)) for _ in range(8)]
        assert started.wait(timeout=10)
        asset = upload(client, samples.video)  # probed in asyncio's pool while the speech waits for eSpeak
        held_up = not any(speech.done() for speech in speeches)
        release.set()
        jobs = [speech.result(timeout=60) for speech in speeches]
    assert held_up  # the upload was answered while every speech was still waiting
    assert asset.id
    assert all(job.finished for job in jobs)
    assert len(speaking) == 8
    assert {name.rsplit("_", 1)[0] for name in speaking} == {"emulator-speech"}  # all on the speech thread
