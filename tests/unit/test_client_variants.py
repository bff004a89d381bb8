"""Every documented variant of sync. labs' answers in, the right behaviour out (scripted answers, no network).

Each test names the row of the README's table of variants (the emulator's suite shows it can produce it).
"""

from __future__ import annotations

import json

import httpx
import pytest

from revoice.sync import SyncApiError
from revoice.sync.errors import SyncJobFailed
from revoice.sync.models import GENERATION_TERMINAL, GenerateRequest, Generation, MediaInput, TtsJob, TtsRequest
from tests.unit.test_client import error, make, scripted

REQUEST = GenerateRequest(input=[MediaInput(type="video", asset_id="a"), MediaInput(type="audio", asset_id="b")])


@pytest.mark.parametrize("answer", [{"voiceId": "v-1", "name": "n"}, {"id": "v-1", "name": "n"}])
def test_a_clone_answer_names_its_voice_voice_id_or_id(answer: dict[str, str]) -> None:
    handler, _ = scripted(httpx.Response(201, json={**answer, "internalVoiceId": "i"}))
    assert make(handler).clone_voice("n", asset_id="a").id == "v-1"


def test_a_clone_answer_without_an_id_is_found_by_its_name_rather_than_lost() -> None:
    handler, seen = scripted(
        httpx.Response(201, json={"name": "revoice-n"}),
        httpx.Response(200, json=[{"provider": "elevenlabs"}, {"id": "v-9", "name": "revoice-n", "provider": "x"}]),
    )
    assert make(handler).clone_voice("revoice-n", asset_id="a").id == "v-9"
    assert [r.url.path for r in seen] == ["/v2/voices", "/v2/voices"]


def test_a_failed_tts_jobs_error_object_becomes_its_code_and_message() -> None:
    job = TtsJob.model_validate(
        {"id": "t", "status": "FAILED", "error": {"code": "elevenlabs_quota_exceeded", "message": "quota used up"}}
    )
    assert (job.finished, job.succeeded, job.error_code, job.error) == (
        True,
        False,
        "elevenlabs_quota_exceeded",
        "quota used up",
    )
    handler, _ = scripted(
        httpx.Response(202, json={"id": "t", "status": "PENDING"}),
        httpx.Response(200, json={"id": "t", "status": "FAILED", "error": {"code": "x", "message": "m"}}),
    )
    with pytest.raises(SyncJobFailed) as failed:
        make(handler).synthesize(TtsRequest(script="hi", voice_id="v"), shape="jobs", poll_seconds=0)
    assert (failed.value.error_code, failed.value.message) == ("x", "m")


def test_a_voice_list_with_only_providers_and_restrictions_parses_whole() -> None:
    handler, _ = scripted(
        httpx.Response(
            200,
            json=[
                {"provider": "elevenlabs"},
                {"id": "v-2", "provider": "elevenlabs"},
                {"id": "v-3", "name": "Pending", "provider": "elevenlabs", "restriction": "verification_required"},
                {"id": "v-4", "name": "Blocked", "provider": "elevenlabs", "restriction": "blocked"},
                {"id": "v-5", "name": "Fine", "provider": "elevenlabs"},
            ],
        )
    )
    voices = make(handler).list_voices()
    assert [v.id for v in voices] == [None, "v-2", "v-3", "v-4", "v-5"]
    assert [v.can_speak for v in voices] == [True, True, False, False, True]


def test_one_voice_is_read_from_its_own_endpoint() -> None:
    handler, seen = scripted(httpx.Response(200, json={"id": "v-1", "name": "n", "provider": "elevenlabs"}))
    assert make(handler).get_voice("v-1").name == "n"
    assert seen[0].url.path == "/v2/voices/v-1"


def test_a_generation_is_deleted_at_v2_generations() -> None:
    handler, seen = scripted(httpx.Response(200, json={"id": "g", "status": "COMPLETED"}))
    make(handler).delete_generation("g")
    assert (seen[0].method, seen[0].url.path) == ("DELETE", "/v2/generations/g")


def test_an_uncertain_creation_naming_its_generation_is_followed_not_asked_for_again() -> None:
    handler, seen = scripted(
        error(503, "IDEMPOTENCY_OUTCOME_UNKNOWN", generationId="g-7"),
        httpx.Response(200, json={"id": "g-7", "status": "PROCESSING"}),
    )
    generation = make(handler).create_generation(REQUEST, idempotency_key="job-1")
    assert generation.id == "g-7"
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/v2/generate"), ("GET", "/v2/generate/g-7")]


def test_an_uncertain_creation_without_a_generation_is_retried_with_the_same_key_only() -> None:
    handler, seen = scripted(
        error(503, "IDEMPOTENCY_OUTCOME_UNKNOWN"), httpx.Response(200, json={"id": "g-8", "status": "PENDING"})
    )
    assert make(handler).create_generation(REQUEST, idempotency_key="job-1").id == "g-8"
    assert [r.headers["idempotency-key"] for r in seen] == ["job-1", "job-1"]


def test_a_malformed_idempotency_key_is_an_answer_not_a_reason_to_retry() -> None:
    handler, seen = scripted(error(400, "INVALID_IDEMPOTENCY_KEY"))
    with pytest.raises(SyncApiError) as refused:
        make(handler).create_generation(REQUEST)
    assert (refused.value.error_code, refused.value.retryable, len(seen)) == ("INVALID_IDEMPOTENCY_KEY", False, 1)


def test_a_429_without_retry_after_is_backed_off_from_and_retried() -> None:
    handler, seen = scripted(
        httpx.Response(429, json={"statusCode": 429, "errorCode": "rate_limit_exceeded", "message": "slow down"}),
        httpx.Response(200, json=[]),
    )
    assert make(handler).list_voices() == []
    assert len(seen) == 2


def test_generations_are_paged_by_the_last_id_of_a_bare_array() -> None:
    page = [{"id": f"g{n}", "status": "COMPLETED"} for n in (1, 2)]
    handler, seen = scripted(
        httpx.Response(200, json=page), httpx.Response(200, json=[{"id": "g3", "status": "FAILED"}])
    )
    client = make(handler)
    first, cursor = client.list_generations(limit=2)
    rest, end = client.list_generations(limit=2, cursor=cursor)
    assert ([g.id for g in first + rest], cursor, end) == (["g1", "g2", "g3"], "g2", None)
    assert dict(seen[1].url.params) == {"limit": "2", "cursor": "g2"}


@pytest.mark.parametrize("status", ["TIMED_OUT", "CANCELED", "CANCELLED", "REJECTED"])
def test_older_docs_ends_of_a_generation_are_ends(status: str) -> None:
    generation = Generation(id="g", status=status)
    assert (generation.finished, generation.succeeded, status in GENERATION_TERMINAL) == (True, False, True)


def test_a_402_is_payment_required_and_never_retried() -> None:
    handler, seen = scripted(
        httpx.Response(402, json={"statusCode": 402, "message": "used up", "error": "Payment Required"})
    )
    with pytest.raises(SyncApiError) as refused:
        make(handler).create_generation(REQUEST)
    assert (refused.value.error_code, refused.value.retryable, len(seen)) == ("payment_required", False, 1)


def test_a_validation_answer_without_an_error_code_keeps_its_messages() -> None:
    body = {"statusCode": 400, "message": ["script must be 1-5000 characters"], "error": "Bad Request"}
    handler, _ = scripted(httpx.Response(400, content=json.dumps(body), headers={"content-type": "application/json"}))
    with pytest.raises(SyncApiError) as refused:
        make(handler).start_tts(TtsRequest(script="hi", voice_id="v"), shape="jobs")
    assert (refused.value.error_code, refused.value.message) == ("bad_request", "script must be 1-5000 characters")
