"""The client's error mapping, retries and shape tolerance, against scripted answers (no network)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from revoice.sync import SyncApiError, SyncClient, SyncTransportError
from revoice.sync.models import GenerateRequest, MediaInput, TtsRequest
from revoice.sync.retry import RetryPolicy

KEY = "sk-live-SECRET-123456"
Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def make(handler: Handler) -> SyncClient:
    return SyncClient(
        KEY,
        base_url="https://api.example",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(base_delay=0, max_retry_after=0),
        sleep=lambda _: None,
    )


def error(
    status: int, code: str, message: Any = "nope", headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    return httpx.Response(
        status, json={"statusCode": status, "errorCode": code, "message": message, **extra}, headers=headers
    )


VOICE = {"id": "v1", "name": "revoice-x", "provider": "elevenlabs"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "voice_sample_invalid"),
        (401, "unauthorized"),
        (402, "elevenlabs_quota_exceeded"),
        (403, "voice_clone_limit_reached"),
        (404, "voice_not_found"),
        (409, "voice_name_conflict"),
        (413, "voice_sample_source_too_large"),
        (422, "voice_sample_upload_required"),
    ],
)
def test_permanent_errors_surface_at_once_with_their_code(status: int, code: str) -> None:
    handler, seen = scripted(error(status, code, ["first problem", "second problem"], suggestion="do X"))
    with pytest.raises(SyncApiError) as caught:
        make(handler).list_voices()
    assert (caught.value.status_code, caught.value.error_code, len(seen)) == (status, code, 1)
    assert caught.value.message == "first problem; second problem"
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_errors_are_retried_until_an_answer_comes(status: int) -> None:
    handler, seen = scripted(error(status, "busy"), error(status, "busy"), httpx.Response(200, json=[VOICE]))
    assert [v.id for v in make(handler).list_voices()] == ["v1"]
    assert len(seen) == 3


def test_retries_stop_after_the_attempt_cap_and_report_the_last_error() -> None:
    handler, seen = scripted(error(503, "service_unavailable"))
    with pytest.raises(SyncApiError) as caught:
        make(handler).list_voices()
    assert caught.value.error_code == "service_unavailable"
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.RemoteProtocolError("dropped"), "connection_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
    ],
)
def test_transport_failures_are_retried_then_reported(exc: Exception, code: str) -> None:
    handler, seen = scripted(exc)
    with pytest.raises(SyncTransportError) as caught:
        make(handler).list_voices()
    assert caught.value.error_code == code
    assert len(seen) == 4


def test_retry_after_comes_from_the_body_or_the_header() -> None:
    slept: list[float] = []
    handler, _ = scripted(
        error(429, "concurrency_limit_reached", activeGenerations=6, concurrencyLimit=6, retryAfterSeconds=2.5),
        error(429, "rate_limit_exceeded", headers={"Retry-After": "4"}),
        httpx.Response(200, json=[]),
    )
    client = SyncClient(KEY, base_url="https://api.example", transport=httpx.MockTransport(handler), sleep=slept.append)
    client.list_voices()
    assert slept == [2.5, 4.0]


def test_concurrency_details_are_kept_on_the_error() -> None:
    handler, _ = scripted(error(429, "concurrency_limit_reached", activeGenerations=3, concurrencyLimit=3))
    with pytest.raises(SyncApiError) as caught:
        SyncClient(
            KEY, base_url="https://x", transport=httpx.MockTransport(handler), retry=RetryPolicy(max_attempts=1)
        ).list_voices()
    assert caught.value.details == {"activeGenerations": 3, "concurrencyLimit": 3}


def test_an_unreadable_error_body_still_gives_a_typed_error() -> None:
    handler, _ = scripted(httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(SyncApiError) as caught:
        SyncClient(
            KEY, base_url="https://x", transport=httpx.MockTransport(handler), retry=RetryPolicy(max_attempts=1)
        ).list_voices()
    assert (caught.value.status_code, caught.value.error_code) == (502, "http_502")


def test_the_api_key_is_sent_to_the_api_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler, seen = scripted(error(500, "boom", f"echo {KEY[:3]}"), error(401, "unauthorized"))
    client = make(handler)
    with pytest.raises(SyncApiError) as caught:
        client.list_voices()
    assert seen[0].headers["x-api-key"] == KEY
    shown = " ".join(
        [repr(client), str(caught.value), repr(caught.value), caplog.text, json.dumps(caught.value.to_dict())]
    )
    assert KEY not in shown


def test_storage_uploads_and_downloads_never_carry_the_api_key(tmp_path: Any) -> None:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/v2/assets/upload":
            return httpx.Response(
                201,
                json={
                    "uploadUrl": "https://storage.example/put?sig=1",
                    "url": "https://assets.example/uploads/a/f.mp4",
                    "expiresIn": 60,
                },
            )
        if request.url.host == "storage.example":
            request.read()
            return httpx.Response(200)
        if request.url.path == "/v2/assets":
            return httpx.Response(201, json={"id": "asset-1", "url": "https://assets.example/uploads/a/f.mp4"})
        return httpx.Response(200, content=b"video-bytes")

    sample = tmp_path / "f.mp4"
    sample.write_bytes(b"0123456789" * 1000)
    client = make(handle)
    asset = client.upload_file(str(sample), content_type="video/mp4", asset_type="VIDEO")
    with (tmp_path / "out.mp4").open("wb") as sink:
        assert client.download("https://outputs.example/o.mp4?sig=abc", sink) == len(b"video-bytes")
    put = next(r for r in requests if r.method == "PUT")
    assert asset.id == "asset-1"
    assert put.headers["content-type"] == "video/mp4"
    assert put.headers["content-length"] == "10000"
    assert put.content == sample.read_bytes()
    assert all("x-api-key" not in r.headers for r in requests if r.url.host != "api.example")


def test_a_clone_whose_first_attempt_landed_returns_that_voice_instead_of_a_409() -> None:
    handler, seen = scripted(
        error(502, "bad_gateway"), error(409, "voice_name_conflict"), httpx.Response(200, json=[VOICE])
    )
    assert make(handler).clone_voice("revoice-x", asset_id="a1").id == "v1"
    assert [r.method for r in seen] == ["POST", "POST", "GET"]


def test_a_plain_409_on_clone_is_not_retried() -> None:
    handler, seen = scripted(error(409, "voice_name_conflict"))
    with pytest.raises(SyncApiError, match="voice_name_conflict"):
        make(handler).clone_voice("revoice-x", url="https://assets.example/uploads/a/f.mp4")
    assert len(seen) == 1


def test_tts_falls_back_to_the_v2_tts_endpoint_where_jobs_are_not_enabled() -> None:
    handler, seen = scripted(
        error(503, "tts_jobs_not_enabled"),
        httpx.Response(200, json={"id": "t1", "url": "https://a/t1.wav", "duration": 2.0}),
    )
    job = make(handler).start_tts(TtsRequest(script="hi", voice_id="v1"))
    assert (job.finished, job.succeeded, job.url, job.endpoint) == (True, True, "https://a/t1.wav", "tts")
    assert [r.url.path for r in seen] == ["/v2/tts/jobs", "/v2/tts"]


def test_a_busy_tts_provider_is_retried_not_treated_as_unsupported() -> None:
    handler, seen = scripted(
        error(503, "elevenlabs_service_unavailable"), httpx.Response(202, json={"id": "t1", "status": "PENDING"})
    )
    job = make(handler).start_tts(TtsRequest(script="hi", voice_id="v1"))
    assert (job.finished, job.endpoint) == (False, "jobs")
    assert [r.url.path for r in seen] == ["/v2/tts/jobs", "/v2/tts/jobs"]


def test_a_seed_style_tts_job_is_polled_until_it_has_synthesized_audio() -> None:
    handler, seen = scripted(
        httpx.Response(404, json={"statusCode": 404, "errorCode": "not_found", "message": "no route"}),
        httpx.Response(201, json={"id": "t9", "status": "PENDING"}),
        httpx.Response(200, json={"id": "t9", "status": "PROCESSING"}),
        httpx.Response(200, json={"id": "t9", "status": "COMPLETED", "synthesizedAudioUrl": "https://a/t9.wav"}),
    )
    job = make(handler).synthesize(TtsRequest(script="hi", voice_id="v1"), poll_seconds=0)
    assert (job.url, job.status) == ("https://a/t9.wav", "COMPLETED")
    assert [r.url.path for r in seen][-2:] == ["/v2/tts/t9", "/v2/tts/t9"]


def test_generation_error_codes_are_read_in_either_case_style() -> None:
    handler, _ = scripted(httpx.Response(200, json={"id": "g", "status": "failed", "error_code": "bad_face"}))
    generation = make(handler).get_generation("g")
    assert (generation.status, generation.error_code, generation.finished, generation.succeeded) == (
        "FAILED",
        "bad_face",
        True,
        False,
    )


def test_generations_list_accepts_a_bare_array_or_a_page() -> None:
    bare, _ = scripted(httpx.Response(200, json=[{"id": "g1", "status": "COMPLETED"}]))
    paged, _ = scripted(httpx.Response(200, json={"items": [{"id": "g2", "status": "PENDING"}], "nextCursor": "c"}))
    assert [g.id for g in make(bare).list_generations()[0]] == ["g1"]
    items, cursor = make(paged).list_generations(limit=1)
    assert ([g.id for g in items], cursor) == (["g2"], "c")


def test_cost_estimates_accept_a_list_or_a_single_object() -> None:
    one = {"estimatedFrameCount": 250, "estimatedGenerationCost": 0.5}
    request = GenerateRequest(input=[MediaInput(type="video", url="u"), MediaInput(type="audio", url="a")])
    for answer in ([one], one):
        handler, _ = scripted(httpx.Response(200, json=answer))
        assert make(handler).estimate_cost(request)[0].estimated_generation_cost == 0.5


def test_idempotency_keys_are_sent_and_bad_ones_refused_before_sending() -> None:
    handler, seen = scripted(httpx.Response(201, json={"id": "g", "status": "PENDING"}))
    request = GenerateRequest(input=[MediaInput(type="video", url="u"), MediaInput(type="audio", url="a")])
    make(handler).create_generation(request, idempotency_key="job-abc_1.2~x")
    assert seen[0].headers["idempotency-key"] == "job-abc_1.2~x"
    with pytest.raises(ValueError, match="Idempotency-Key"):
        make(handler).create_generation(request, idempotency_key="has space")
    assert len(seen) == 1
