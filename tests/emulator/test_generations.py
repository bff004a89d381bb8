"""Lip-sync generations: lifecycle, real output, idempotency, plan limits, long polls, outcomes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from revoice.sync import SyncApiError, SyncClient
from revoice.sync.models import GenerateRequest, MediaInput, TextInput, TtsProvider
from revoice.sync.retry import NO_RETRY
from revoice_local import media
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import PATIENT_RETRY, Receiver, Samples, fast_client, upload


def audio_request(client: SyncClient, samples: Samples, **options: object) -> GenerateRequest:
    video = upload(client, samples.video)
    audio = upload(client, samples.audio, "audio/wav", "AUDIO")
    return GenerateRequest(
        input=[MediaInput(type="video", asset_id=video.id), MediaInput(type="audio", url=audio.url)], **options
    )


def test_a_generation_moves_through_its_states_and_yields_a_playable_video(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, tmp_path: Path
) -> None:
    emulator = emulator_factory(time_scale=0.05)
    with fast_client(emulator) as client:
        request = audio_request(client, samples, output_file_name="my_clip", options={"sync_mode": "loop"})
        created = client.create_generation(request)
        seen = [created.status]
        while not (current := client.get_generation(created.id, wait_seconds=1)).finished:
            seen.append(current.status)
        seen.append(current.status)
        out = tmp_path / "out.mp4"
        with out.open("wb") as sink:
            client.download(str(current.output_url), sink)
    assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == ["PENDING", "PROCESSING", "COMPLETED"]
    assert "/my_clip.mp4?" in str(current.output_url)
    info = media.probe(out, ".mp4")
    assert info is not None
    assert (info.has_video, info.has_audio, info.width, info.height) == (True, True, 320, 240)
    expected = media.probe(samples.audio)
    assert expected is not None
    assert abs(info.duration - expected.duration) < 0.3
    assert current.output_duration == pytest.approx(info.duration, abs=0.1)


def test_output_urls_are_signed_and_a_tampered_one_is_refused(client: SyncClient, samples: Samples) -> None:
    done = client.wait_for_generation(client.create_generation(audio_request(client, samples)).id)
    assert httpx.get(str(done.output_url)).status_code == 200
    assert httpx.get(str(done.output_url).replace("signature=", "signature=0")).status_code == 403


def test_a_text_input_is_spoken_by_the_voice_and_its_audio_is_returned(client: SyncClient, samples: Samples) -> None:
    video = upload(client, samples.video)
    voice = client.list_voices()[0].id
    request = GenerateRequest(
        input=[
            MediaInput(type="video", asset_id=video.id),
            TextInput(provider=TtsProvider(voice_id=voice, script="Say this line.")),
        ]
    )
    done = client.wait_for_generation(client.create_generation(request).id)
    assert done.succeeded
    assert done.synthesized_audio_url
    assert httpx.get(done.synthesized_audio_url).status_code == 200


def test_the_same_idempotency_key_and_body_returns_the_original_generation(
    client: SyncClient, samples: Samples
) -> None:
    request = audio_request(client, samples)
    first = client.create_generation(request, idempotency_key="job-42")
    again = client.create_generation(request, idempotency_key="job-42")
    assert again.id == first.id
    other = request.model_copy(update={"output_file_name": "different"})
    with pytest.raises(SyncApiError) as caught:
        client.create_generation(other, idempotency_key="job-42")
    assert (caught.value.status_code, caught.value.error_code) == (409, "idempotency_key_conflict")
    assert len(client.list_generations()[0]) == 1


def test_requests_racing_with_one_key_make_one_generation_and_the_later_ones_hear_the_outcome_is_unknown(
    emulator: EmulatorServer, samples: Samples
) -> None:
    with fast_client(emulator, retry=NO_RETRY) as setup:
        request = audio_request(setup, samples)
    answers: list[str] = []

    def create() -> None:
        with fast_client(emulator, retry=NO_RETRY) as racer:
            try:
                answers.append(racer.create_generation(request, idempotency_key="job-7").id)
            except SyncApiError as error:
                answers.append(error.error_code)

    racers = [threading.Thread(target=create) for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    with fast_client(emulator) as client:
        created = client.create_generation(request, idempotency_key="job-7")  # retried until the outcome is known
        assert len(client.list_generations()[0]) == 1
    assert set(answers) <= {created.id, "IDEMPOTENCY_OUTCOME_UNKNOWN"}
    assert created.id in answers


def test_a_refused_request_leaves_its_key_free_for_the_next(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(concurrency=1, time_scale=0.05)
    with fast_client(emulator, retry=NO_RETRY) as client:
        request = audio_request(client, samples)
        running = client.create_generation(request)
        with pytest.raises(SyncApiError) as caught:
            client.create_generation(request, idempotency_key="job-8")
        assert caught.value.error_code == "concurrency_limit_reached"
        client.wait_for_generation(running.id, wait_seconds=1)
        assert client.create_generation(request, idempotency_key="job-8").status == "PENDING"


def test_the_plan_concurrency_answers_429_with_its_details(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(concurrency=1, time_scale=0.2)
    with fast_client(emulator, retry=NO_RETRY) as client:
        request = audio_request(client, samples)
        client.create_generation(request)
        with pytest.raises(SyncApiError) as caught:
            client.create_generation(request)
    error = caught.value
    assert (error.status_code, error.error_code) == (429, "concurrency_limit_reached")
    assert error.details == {"activeGenerations": 1, "concurrencyLimit": 1}
    assert error.retry_after is not None


def test_a_retrying_client_waits_out_the_concurrency_limit(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(concurrency=1, time_scale=0.02)
    with fast_client(emulator, retry=PATIENT_RETRY) as client:
        request = audio_request(client, samples)
        first = client.create_generation(request)
        second = client.create_generation(request)
        assert client.wait_for_generation(second.id).succeeded
        assert client.get_generation(first.id).succeeded
    assert emulator.emulator.max_in_flight == 1


def test_videos_longer_than_the_plan_allows_are_refused(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    with fast_client(emulator_factory(max_video_seconds=1)) as client, pytest.raises(SyncApiError) as caught:
        client.create_generation(audio_request(client, samples))
    assert (caught.value.status_code, caught.value.error_code) == (400, "generation_plan_duration_exceeded")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("fail", "FAILED", "lipsync_face_not_found"), ("reject", "REJECTED", None)],
)
def test_failed_and_rejected_generations_carry_an_error_code(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, kind: str, status: str, code: str | None
) -> None:
    fault = FaultRule(target="generation", kind=kind, error_code="lipsync_face_not_found")
    with fast_client(emulator_factory(faults=[fault])) as client:
        done = client.wait_for_generation(client.create_generation(audio_request(client, samples)).id)
    assert (done.status, done.error_code, done.output_url) == (status, code, None)
    assert done.error


def test_a_long_poll_returns_as_soon_as_the_status_changes(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(time_scale=1.0, pending_seconds=0.3, processing_seconds=30)
    with fast_client(emulator) as client:
        created = client.create_generation(audio_request(client, samples))
        started = time.monotonic()
        changed = client.get_generation(created.id, wait_seconds=5)
        took = time.monotonic() - started
    assert changed.status == "PROCESSING"
    assert took < 4


def test_long_poll_timeouts_outside_one_to_ten_seconds_are_refused(client: SyncClient, samples: Samples) -> None:
    created = client.create_generation(audio_request(client, samples))
    with pytest.raises(SyncApiError) as caught:
        client._json("GET", f"/v2/generate/{created.id}", params={"wait": "true", "timeout": "11"})
    assert (caught.value.status_code, caught.value.error_code) == (400, "bad_request")
    assert "1 to 10" in caught.value.message


def test_a_running_generation_cannot_be_deleted_but_a_finished_one_can(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    with fast_client(emulator_factory(time_scale=0.1)) as client:
        created = client.create_generation(audio_request(client, samples))
        with pytest.raises(SyncApiError) as caught:
            client.delete_generation(created.id)
        assert (caught.value.status_code, caught.value.error_code) == (409, "generation_not_deletable_while_processing")
        client.wait_for_generation(created.id)
        client.delete_generation(created.id)
        with pytest.raises(SyncApiError, match="generation_not_found"):
            client.get_generation(created.id)


def test_generations_are_listed_filtered_and_paged(client: SyncClient, samples: Samples) -> None:
    request = audio_request(client, samples)
    ids = [client.create_generation(request).id for _ in range(3)]
    for generation_id in ids:
        client.wait_for_generation(generation_id)
    everything, cursor = client.list_generations(status=["COMPLETED"])
    assert ({g.id for g in everything}, cursor) == (set(ids), None)
    page, cursor = client.list_generations(limit=2)
    rest, end = client.list_generations(limit=2, cursor=cursor)
    assert ({g.id for g in page + rest}, end) == (set(ids), None)
    assert [g.id for g in client.list_generations(ids=[ids[1]])[0]] == [ids[1]]


@pytest.mark.parametrize("shape", ["list", "object"])
def test_cost_estimates_come_in_either_documented_shape(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, shape: str
) -> None:
    with fast_client(emulator_factory(cost_shape=shape)) as client:
        estimate = client.estimate_cost(audio_request(client, samples))
    assert len(estimate) == 1
    assert estimate[0].estimated_frame_count > 50
    assert estimate[0].estimated_generation_cost > 0


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"model": "lipsync-9"}, "generation_unsupported_model", "model"),
        ({"options": {"sync_mode": "stretch"}}, "generation_input_validation_failed", "sync_mode"),
        ({"outputFileName": "bad name"}, "generation_input_validation_failed", "outputFileName"),
        ({"webhookUrl": "ftp://x"}, "generation_input_validation_failed", "webhookUrl"),
        ({"input": []}, "generation_video_missing", "video"),
    ],
)
def test_malformed_generate_bodies_name_the_problem(
    client: SyncClient, samples: Samples, body: dict[str, object], code: str, field: str
) -> None:
    base = audio_request(client, samples).wire()
    with pytest.raises(SyncApiError) as caught:
        client._json("POST", "/v2/generate", json={**base, **body})
    assert (caught.value.status_code, caught.value.error_code) == (400, code)
    assert field in caught.value.message


def test_a_public_url_input_is_accepted_and_fails_later_when_it_cannot_be_fetched(
    client: SyncClient, samples: Samples
) -> None:
    audio = upload(client, samples.audio, "audio/wav", "AUDIO")
    unreachable = MediaInput(type="video", url="https://unreachable.invalid/v.mp4")
    created = client.create_generation(GenerateRequest(input=[unreachable, MediaInput(type="audio", url=audio.url)]))
    done = client.wait_for_generation(created.id)
    assert (done.status, done.error_code) == ("FAILED", "generation_input_video_inaccessible")
    missing = MediaInput(type="video", asset_id="missing")
    with pytest.raises(SyncApiError) as caught:
        client.create_generation(GenerateRequest(input=[missing, MediaInput(type="audio", url=audio.url)]))
    assert caught.value.error_code == "asset_not_found"


def test_a_public_url_input_that_answers_is_downloaded_and_lip_synced(
    client: SyncClient, samples: Samples, receiver: Receiver
) -> None:
    audio = upload(client, samples.audio, "audio/wav", "AUDIO")
    receiver.files["/talking-head.mp4"] = samples.video.read_bytes()
    video = MediaInput(type="video", url=receiver.url.replace("/hook", "/talking-head.mp4"))
    created = client.create_generation(GenerateRequest(input=[video, MediaInput(type="audio", url=audio.url)]))
    done = client.wait_for_generation(created.id)
    assert (done.status, done.output_url is not None) == ("COMPLETED", True)


def test_generations_are_rate_limited_per_minute(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(generate_per_minute=2, time_scale=1.0, pending_seconds=0.01, processing_seconds=0.01)
    with fast_client(emulator, retry=NO_RETRY) as client:
        request = audio_request(client, samples)
        client.create_generation(request)
        client.create_generation(request)
        with pytest.raises(SyncApiError) as caught:
            client.create_generation(request)
    assert (caught.value.status_code, caught.value.error_code) == (429, "rate_limit_exceeded")


def test_many_concurrent_clients_leave_consistent_state(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(concurrency=3, time_scale=0.02)
    with fast_client(emulator) as setup:
        request = audio_request(setup, samples)
    results: list[str] = []
    failures: list[Exception] = []

    def worker(n: int) -> None:
        with fast_client(emulator, retry=PATIENT_RETRY) as client:
            try:
                created = client.create_generation(request, idempotency_key=f"job-{n}")
                results.append(client.wait_for_generation(created.id).status)
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == ["COMPLETED"] * 12
    assert emulator.emulator.max_in_flight <= 3
    assert len(emulator.emulator.generations) == 12
