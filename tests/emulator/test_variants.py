"""The emulator produces each documented variant of sync. labs' answers (its default is the current API
reference's), and the rest of what the reference says: catalogs, JSON 404s, quotas, long-poll headers."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from revoice.sync import SyncApiError
from revoice.sync.models import MODELS, GenerateRequest, MediaInput, TtsRequest
from revoice.sync.retry import NO_RETRY
from revoice_local.emulator.catalog import ERRORS
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Receiver, Samples, fast_client, upload
from tests.emulator.test_generations import audio_request
from tests.waiting import wait_until


def _api(emulator: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=emulator.url, headers={"x-api-key": emulator.config.api_key}, timeout=30)


@pytest.mark.parametrize(("shape", "present", "absent"), [("voiceId", "voiceId", "id"), ("id", "id", "voiceId")])
def test_the_clone_answer_names_the_voice_as_configured(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, shape: str, present: str, absent: str
) -> None:
    emulator = emulator_factory(clone_answer=shape)
    with fast_client(emulator) as client, _api(emulator) as api:
        asset = upload(client, samples.video)
        answer = api.post("/v2/voices", json={"name": "revoice-variant", "assetId": asset.id})
    assert answer.status_code == 201
    assert present in answer.json()
    assert absent not in answer.json()
    assert set(answer.json()) == {present, "name", "internalVoiceId"}


def test_the_voice_list_can_hold_voices_with_only_a_provider_or_a_restriction(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    with _api(emulator_factory(voice_list_variants=True)) as api:
        listed = api.get("/v2/voices").json()
        restricted = api.get("/v2/voices/builtin-unverified").json()
    assert {"provider": "elevenlabs"} in listed
    assert any("name" not in v and "id" in v for v in listed)
    assert {v.get("restriction") for v in listed} >= {"verification_required", "blocked"}
    assert restricted["restriction"] == "verification_required"
    with _api(emulator_factory()) as api:
        assert all("restriction" not in v for v in api.get("/v2/voices").json())  # built-ins carry none


def test_one_voice_has_its_own_endpoint_and_an_unknown_one_is_a_404(emulator: EmulatorServer) -> None:
    with _api(emulator) as api:
        assert api.get("/v2/voices/builtin-adam").json()["name"] == "Adam"
        missing = api.get("/v2/voices/no-such-voice")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "voice_not_found")


@pytest.mark.parametrize("names_generation", [True, False])
def test_an_uncertain_creation_answers_503_and_the_client_ends_with_one_generation(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, names_generation: bool
) -> None:
    fault = FaultRule(target="POST /v2/generate", kind="outcome_unknown", names_generation=names_generation)
    emulator = emulator_factory(faults=[fault])
    with fast_client(emulator) as client:
        request = audio_request(client, samples)
        generation = client.create_generation(request, idempotency_key="job-uncertain")
    assert len(emulator.emulator.generations) == 1
    assert generation.id in emulator.emulator.generations
    assert emulator.emulator.errors_answered["IDEMPOTENCY_OUTCOME_UNKNOWN"] == 1


def test_a_malformed_idempotency_key_is_invalid_idempotency_key(emulator: EmulatorServer) -> None:
    with _api(emulator) as api:
        answer = api.post("/v2/generate", json={}, headers={"Idempotency-Key": "../etc"})
    assert (answer.status_code, answer.json()["errorCode"]) == (400, "INVALID_IDEMPOTENCY_KEY")


@pytest.mark.parametrize("hints", [False, True])
def test_an_injected_rate_limit_says_when_only_with_hints(
    emulator_factory: Callable[..., EmulatorServer], hints: bool
) -> None:
    emulator = emulator_factory(rate_limit_hints=hints, faults=[FaultRule(target="GET /v2/voices", kind="rate_limit")])
    with _api(emulator) as api:
        answer = api.get("/v2/voices")
    assert (answer.status_code, answer.json()["errorCode"]) == (429, "rate_limit_exceeded")
    assert ("retry-after" in answer.headers, "retryAfterSeconds" in answer.json()) == (hints, hints)


@pytest.mark.parametrize("shape", ["array", "page"])
def test_the_generations_list_is_a_bare_array_or_the_older_page(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, shape: str
) -> None:
    emulator = emulator_factory(generations_list_shape=shape)
    with fast_client(emulator) as client, _api(emulator) as api:
        for _ in range(3):
            client.create_generation(audio_request(client, samples))
        answer = api.get("/v2/generations", params={"limit": 2}).json()
        listed, cursor = client.list_generations(limit=2)
        rest, end = client.list_generations(limit=2, cursor=cursor)
    assert isinstance(answer, list if shape == "array" else dict)
    assert (len(listed), len(rest), end) == (2, 1, None)


def test_a_cursor_without_a_limit_is_refused(emulator: EmulatorServer) -> None:
    with _api(emulator) as api:
        answer = api.get("/v2/generations", params={"cursor": "g"})
    assert (answer.status_code, answer.json()["message"]) == (400, ["cursor needs limit"])


def test_the_long_poll_takes_a_number_and_says_how_it_waited(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(time_scale=1.0, pending_seconds=0.2, processing_seconds=30)
    with fast_client(emulator) as client, _api(emulator) as api:
        created = client.create_generation(audio_request(client, samples))
        answer = api.get(f"/v2/generate/{created.id}", params={"wait": "true", "timeout": "2.5", "include": "progress"})
    assert answer.status_code == 200
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["x-sync-wait-changed"] == "true"
    assert 0 < float(answer.headers["x-sync-wait-seconds"]) < 2.5
    assert answer.json()["progress"] == 10


@pytest.mark.parametrize("on_rejected", [False, True])
def test_webhooks_are_compact_json_for_completed_and_failed_and_rejected_only_when_asked(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, receiver: Receiver, on_rejected: bool
) -> None:
    emulator = emulator_factory(webhook_on_rejected=on_rejected, faults=[FaultRule(target="generation", kind="reject")])
    with fast_client(emulator) as client:
        request: GenerateRequest = audio_request(client, samples).model_copy(update={"webhook_url": receiver.url})
        rejected = client.wait_for_generation(client.create_generation(request).id)
        done = client.wait_for_generation(client.create_generation(request).id)
    wait_until(lambda: len(receiver.received) >= 1 + on_rejected, what="the webhooks", within=5)
    # A REJECTED webhook would have gone out before the COMPLETED one, whose generation started after it ended.
    statuses = [r["json"]["status"] for r in receiver.received]
    assert (rejected.status, done.status) == ("REJECTED", "COMPLETED")
    assert sorted(statuses) == sorted(["COMPLETED", *(["REJECTED"] if on_rejected else [])])
    delivered = receiver.received[-1]["body"]
    assert delivered == json.dumps(json.loads(delivered), separators=(",", ":")).encode()
    assert set(json.loads(delivered)) == {
        "id",
        "status",
        "createdAt",
        "model",
        "input",
        "options",
        "outputUrl",
        "outputDuration",
        "webhookUrl",
        "error",
        "error_code",
    }


def test_the_free_plan_has_three_generations_and_ten_tts_a_month_then_402(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(plan="free", time_scale=0.01)
    with fast_client(emulator, retry=NO_RETRY) as client:
        request = audio_request(client, samples)
        for _ in range(3):
            client.wait_for_generation(client.create_generation(request).id)
        with pytest.raises(SyncApiError) as refused:
            client.create_generation(request)
        assert (refused.value.status_code, refused.value.error_code) == (402, "payment_required")
        for _ in range(10):
            client.start_tts(TtsRequest(script="Hi.", voice_id="builtin-adam"), shape="tts")
        with pytest.raises(SyncApiError) as spoken_out:
            client.start_tts(TtsRequest(script="Hi.", voice_id="builtin-adam"), shape="tts")
    assert spoken_out.value.status_code == 402


def test_the_error_catalog_is_served_without_a_key_and_names_every_code_the_emulator_answers(
    emulator: EmulatorServer,
) -> None:
    catalog = httpx.get(f"{emulator.url}/v2/errors").json()
    assert {entry["errorCode"] for entry in catalog} == set(ERRORS)
    assert all(entry["message"] and entry["suggestion"] for entry in catalog)
    with _api(emulator) as api:
        assert [m["id"] for m in api.get("/v2/models").json()] == list(MODELS)


@pytest.mark.parametrize(("method", "path"), [("GET", "/v2/nothing-here"), ("DELETE", "/v2/generate/some-id")])
def test_unknown_routes_answer_the_apis_json_404(emulator: EmulatorServer, method: str, path: str) -> None:
    with _api(emulator) as api:
        answer = api.request(method, path)
    assert answer.status_code in (404, 405)
    assert answer.json()["statusCode"] == answer.status_code
    assert answer.json()["message"] == f"Cannot {method} {path}"


def test_each_tts_endpoint_has_its_own_budget(emulator_factory: Callable[..., EmulatorServer]) -> None:
    emulator = emulator_factory(tts_per_minute=1, time_scale=1.0)
    with fast_client(emulator, retry=NO_RETRY) as client:
        client.start_tts(TtsRequest(script="Hi.", voice_id="builtin-adam"), shape="tts")
        client.start_tts(TtsRequest(script="Hi.", voice_id="builtin-adam"), shape="jobs")  # its own 1 a minute
        with pytest.raises(SyncApiError) as refused:
            client.start_tts(TtsRequest(script="Again.", voice_id="builtin-adam"), shape="tts")
    assert refused.value.error_code == "rate_limit_exceeded"


def test_a_public_url_asset_can_be_a_generation_input(emulator: EmulatorServer) -> None:
    with _api(emulator) as api:
        asset = api.post("/v2/assets", json={"url": "https://unreachable.invalid/v.mp4", "type": "VIDEO"}).json()
        answer = api.post(
            "/v2/generate",
            json={
                "input": [
                    MediaInput(type="video", asset_id=asset["id"]).wire(),
                    {"type": "audio", "url": "https://x.invalid/a.wav"},
                ]
            },
        )
    assert answer.status_code == 201
