"""The hostile-input corpus: what a careless or malicious caller can send to each of revoice's doors,
each case with the answer it must get.

- the S3 trigger: for odd but valid keys, a job that completes with its outputs in their place (what
  bad input dropped in the inbox is answered: tests/unit/test_hostile_ingest.py);
- ``POST /jobs`` and ``GET /jobs/{id}``: an HTTP status with a specific ``errorCode``, and no execution;
- the webhook: a 4xx with a specific reason, and no job resumed;
- the client facing sync. labs (the emulator): a typed error with the API's own ``errorCode``.

Nothing may crash, retry forever, or overwrite a stored result.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from revoice.sync import SyncClient
from revoice.sync.errors import SyncApiError
from revoice.sync.models import TtsRequest
from revoice.sync.retry import NO_RETRY
from revoice.sync.webhook import sign
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import IngestEvents, Jobs, post_webhook

LINE = "A new line."
SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def _manifest(jobs: Jobs, **fields: object) -> str:
    return jobs.drop_manifest({"source": jobs.put_video("speaker"), "script": LINE, **fields})


def _executions(stack: LocalStack) -> int:
    return len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"])


# -- the S3 trigger: odd keys are just names -----------------------------------------------------

ODD_KEYS = {
    "'../' in the key": "inbox/../{prefix}-escape.json",
    "spaces in the key": "inbox/{prefix} my job (1).json",
    "'+' in the key": "inbox/{prefix}+plus+signs.json",
    "unicode in the key": "inbox/{prefix}-vidéo-日本語-🎬.json",
    "URL-encoding in the key": "inbox/{prefix}-100%25-done%2F.json",
}


@pytest.fixture(scope="module")
def odd_key_jobs(stack: LocalStack, videos: Any) -> Iterator[dict[str, tuple[str, str]]]:
    """All the odd-key jobs at once (they take a few seconds each): case -> (key, job id). Each ends
    before the module does: a worker given only some of the cases still started them all, and the
    session's check finds their slots held if they are still running when its last test ends."""
    jobs = Jobs(stack, videos)
    source = jobs.put_video("speaker")
    dropped = {}
    for case, pattern in ODD_KEYS.items():
        key = pattern.format(prefix=jobs.prefix)
        jobs.put_bytes(key, json.dumps({"source": source, "script": LINE}).encode())
        dropped[case] = (key, jobs.job_id(key))
    yield dropped
    for _, job_id in dropped.values():
        stack.wait_for_job(job_id)


@pytest.mark.parametrize("case", list(ODD_KEYS))
def test_odd_but_valid_keys_make_jobs_whose_outputs_stay_in_their_place(
    stack: LocalStack, jobs: Jobs, odd_key_jobs: dict[str, tuple[str, str]], case: str
) -> None:
    key, job_id = odd_key_jobs[case]
    assert SAFE_JOB_ID.match(job_id), job_id
    end = stack.wait_for_job(job_id)
    assert end.status == "SUCCEEDED", end.error
    assert end.result is not None
    assert end.result["trigger"]["key"] == key  # the key, decoded from the event, exactly as stored
    outputs = jobs.keys(f"results/{job_id}/")
    assert [k.rsplit("/", 1)[-1] for k in outputs] == ["output.mp4", "result.json", "speech.wav"]


def test_a_5000_character_script_is_accepted(stack: LocalStack, jobs: Jobs) -> None:
    key = _manifest(jobs, script="a" * 5000)
    job_id = jobs.job_id(key)
    deadline = time.monotonic() + 10
    while stack._execution_status(job_id) is None:
        assert time.monotonic() < deadline, stack.read_json(f"failed/{job_id}/error.json")
        time.sleep(0.05)
    stack.sfn.stop_execution(executionArn=stack.execution_arn(job_id), cause="the corpus only needed it accepted")
    assert stack.wait_for_job(job_id, timeout=30).status == "ABORTED"


def test_s3s_test_event_is_a_no_op_not_an_error_to_retry(stack: LocalStack) -> None:
    before = _executions(stack)
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.bucket, "RequestId": "r"}
    assert stack.invoke("IngestFunction", test_event) == {"jobs": []}
    assert _executions(stack) == before


def test_a_folder_marker_in_inbox_is_ignored(stack: LocalStack, jobs: Jobs, ingest_events: IngestEvents) -> None:
    key = jobs.put_bytes("inbox/some-folder/", b"")
    [outcome] = stack.invoke("IngestFunction", ingest_events.for_key(key))["jobs"]  # what the ingest made of it
    assert outcome["status"] == "ignored"
    assert stack.read_json(f"failed/{jobs.job_id(key)}/error.json") is None


def test_a_source_that_vanishes_before_the_push_fails_the_job_clearly(stack: LocalStack, jobs: Jobs) -> None:
    source = jobs.put_video("speaker")

    def vanish(name: str, payload: object) -> None:
        if "PushFunction" in name:
            stack.s3.delete_object(Bucket=stack.bucket, Key=source)

    stack.runtime.invocations.hooks.append(vanish)
    try:
        end = jobs.run({"source": source, "script": LINE})
    finally:
        stack.runtime.invocations.hooks.remove(vanish)
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("push", "source_missing")
    assert stack.runtime.invocations.by_function["revoice-local-PushFunction"] >= 1


def test_a_stored_result_is_never_overwritten_by_a_later_failure(stack: LocalStack, jobs: Jobs) -> None:
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.result is not None
    stored = stack.read_json(f"results/{end.job_id}/result.json")
    failure = {"job": {"id": end.job_id, "bucket": stack.bucket, "key": "x"}, "failedStep": "store"}
    answer = stack.invoke("FailureFunction", {**failure, "error": {"Error": "Boom", "Cause": "late"}})
    assert "already stored" in answer["ignored"]
    assert stack.read_json(f"results/{end.job_id}/result.json") == stored
    assert stack.read_json(f"failed/{end.job_id}/error.json") is None


# -- POST /jobs and GET /jobs/{id} ---------------------------------------------------------------

Request = tuple[str, str, dict[str, str], Any]  # method, path, headers, JSON body (bytes: sent raw)
HTTP_CASES: dict[str, tuple[Callable[[str], Request], int, str, str]] = {
    "no token": (lambda t: ("POST", "/jobs", {}, {"source": "media/x.mp4", "script": LINE}), 401, "", ""),
    "wrong token": (
        lambda t: ("POST", "/jobs", {"authorization": "Bearer wrong-token-value"}, {"source": "a.mp4"}),
        403,
        "",
        "",
    ),
    "wrong scheme": (lambda t: ("POST", "/jobs", {"authorization": f"Basic {t}"}, {"source": "a.mp4"}), 403, "", ""),
    "GET without a token": (lambda t: ("GET", "/jobs/anything-0123456789abcdef", {}, None), 401, "", ""),
    "not JSON": (lambda t: ("POST", "/jobs", {}, b"source=x"), 400, "invalid_manifest", "not valid JSON"),
    "a JSON array": (lambda t: ("POST", "/jobs", {}, [1, 2]), 400, "invalid_manifest", "JSON object"),
    "oversized body": (
        lambda t: ("POST", "/jobs", {}, {"source": "a.mp4", "script": "x" * 70_000}),
        413,
        "body_too_large",
        "at most",
    ),
    "missing source": (lambda t: ("POST", "/jobs", {}, {"script": LINE}), 400, "invalid_manifest", "'source'"),
    "unknown field": (
        lambda t: ("POST", "/jobs", {}, {"source": "media/x.mp4", "script": LINE, "speed": 2}),
        400,
        "invalid_manifest",
        "unknown field 'speed'",
    ),
    "5001-character script": (
        lambda t: ("POST", "/jobs", {}, {"source": "media/x.mp4", "script": "a" * 5001}),
        400,
        "invalid_manifest",
        "at most 5000",
    ),
    "control characters": (
        lambda t: ("POST", "/jobs", {}, {"source": "media/x.mp4", "script": "a\x1bb"}),
        400,
        "invalid_manifest",
        "control characters",
    ),
    "source not in bucket": (
        lambda t: ("POST", "/jobs", {}, {"source": "media/none.mp4", "script": LINE}),
        400,
        "source_missing",
        "not in the bucket",
    ),
    "invalid Idempotency-Key": (
        lambda t: ("POST", "/jobs", {"idempotency-key": "../../etc"}, {"source": "a.mp4", "script": LINE}),
        400,
        "invalid_idempotency_key",
        "1-128",
    ),
    "unknown job": (lambda t: ("GET", "/jobs/nope-0123456789abcdef", {}, None), 404, "", ""),
    "traversal in a job id": (lambda t: ("GET", "/jobs/..%2F..%2Fetc%2Fpasswd", {}, None), 404, "", ""),
}
UNSAFE_URLS = {  # a URL source must be a public https address; names that do not resolve are refused too
    "loopback": ("https://127.0.0.1/video.mp4", "unsafe_url"),
    "localhost": ("https://localhost/video.mp4", "unsafe_url"),
    "IPv6 loopback": ("https://[::1]/video.mp4", "unsafe_url"),
    "private network": ("https://10.1.2.3/video.mp4", "unsafe_url"),
    "cloud metadata": ("https://169.254.169.254/latest/meta-data/x.mp4", "unsafe_url"),
    "cloud metadata by name": ("https://metadata.google.internal/x.mp4", "unreachable_url"),
    "loopback as a decimal number": ("https://2130706433/video.mp4", "unsafe_url"),
    "plain http": ("http://example.com/video.mp4", "unsafe_url"),
    "file URL": ("file:///etc/passwd", "unsafe_url"),
}
for _name, (_url, _code) in UNSAFE_URLS.items():
    HTTP_CASES[f"URL source: {_name}"] = (
        lambda t, url=_url: ("POST", "/jobs", {}, {"source": url, "script": LINE}),  # type: ignore[misc]
        400,
        _code,
        "",
    )


@pytest.mark.parametrize("case", list(HTTP_CASES))
def test_the_jobs_api_answers_bad_requests_with_a_specific_status_and_starts_nothing(
    stack: LocalStack, case: str
) -> None:
    build, status, code, words = HTTP_CASES[case]
    method, path, headers, body = build(stack.api_token)
    if "authorization" not in headers and case not in ("no token", "GET without a token"):
        headers = {"authorization": f"Bearer {stack.api_token}", **headers}
    before = _executions(stack)
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    answer = httpx.request(
        method, f"{stack.api.url}{path}", content=content, headers={"content-type": "application/json", **headers}
    )
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["errorCode"] == code
        assert words in answer.json()["message"]
    assert _executions(stack) == before


# -- the webhook ---------------------------------------------------------------------------------

WebhookPost = tuple[bytes, dict[str, str]]
FORGED = json.dumps({"id": "gen-forged", "status": "COMPLETED", "outputUrl": "https://evil.example/x.mp4"}).encode()
WEBHOOK_CASES: dict[str, tuple[Callable[[str], WebhookPost], int, str]] = {
    "unsigned": (lambda s: (FORGED, {}), 401, "missing signature header"),
    "stale timestamp": (lambda s: (FORGED, {"Sync-Signature": "t=1,v1=00"}), 401, "stale signature timestamp"),
    "malformed signature": (lambda s: (FORGED, {"Sync-Signature": "nonsense"}), 401, "malformed signature header"),
    "signed with another secret": (
        lambda s: (FORGED, {"Sync-Signature": sign(FORGED, "whsec_someone_else")}),
        401,
        "signature mismatch",
    ),
    "body changed after signing": (
        lambda s: (FORGED.replace(b"COMPLETED", b"FAILED"), {"Sync-Signature": sign(FORGED, s)}),
        401,
        "signature mismatch",
    ),
    "replayed an hour later": (
        lambda s: (FORGED, {"Sync-Signature": sign(FORGED, s, int(time.time()) - 3600)}),
        401,
        "stale signature timestamp",
    ),
    "signed in the future": (
        lambda s: (FORGED, {"Sync-Signature": sign(FORGED, s, int(time.time()) + 3600)}),
        401,
        "stale signature timestamp",
    ),
    "oversized body": (
        lambda s: ((body := b'{"id": "x", "pad": "' + b"a" * (300 * 1024) + b'"}'), {"Sync-Signature": sign(body, s)}),
        413,
        "webhook body too large",
    ),
    "signed, but not JSON": (
        lambda s: (b"id=x", {"Sync-Signature": sign(b"id=x", s)}),
        400,
        "webhook body is not a generation",
    ),
    "signed, but nested 50,000 deep": (
        lambda s: (b"[" * 50_000, {"Sync-Signature": sign(b"[" * 50_000, s)}),
        400,
        "webhook body is not a generation",
    ),
    "signed, but not a generation": (
        lambda s: (b'{"hello": 1}', {"Sync-Signature": sign(b'{"hello": 1}', s)}),
        400,
        "webhook body is not a generation",
    ),
}


@pytest.mark.parametrize("case", list(WEBHOOK_CASES))
def test_the_webhook_refuses_what_it_cannot_trust_and_resumes_nothing(stack: LocalStack, case: str) -> None:
    build, status, reason = WEBHOOK_CASES[case]
    body, headers = build(stack.emulator.config.webhook_secret)
    callbacks = stack.dynamodb.Table(str(stack.plan.outputs["JobsTableName"]).replace("JobsTable", "CallbacksTable"))
    answer = post_webhook(stack, body, headers)
    assert (answer.status_code, answer.json()["message"]) == (status, reason)
    assert "Item" not in callbacks.get_item(Key={"generationId": "gen-forged"})


# -- the client facing sync. labs ---------------------------------------------------------------

CLIENT_CASES: dict[str, tuple[Callable[[SyncClient], object], int, str]] = {
    "unknown voice": (lambda c: c.get_voice("no-such-voice"), 404, "voice_not_found"),
    "deleting an unknown voice": (lambda c: c.delete_voice("no-such-voice"), 404, "voice_not_found"),
    "TTS in an unknown voice": (
        lambda c: c.start_tts(TtsRequest(script=LINE, voice_id="no-such-voice"), shape="jobs"),
        422,
        "voice_not_found",
    ),
    "5001-character TTS script": (
        lambda c: c.start_tts(TtsRequest.model_construct(script="a" * 5001, voice_id="x"), shape="jobs"),
        400,
        "bad_request",  # a request of the wrong shape carries no errorCode
    ),
    "unknown generation": (lambda c: c.get_generation("no-such-generation"), 404, "generation_not_found"),
}


@pytest.fixture
def sync_client(stack: LocalStack) -> Iterator[SyncClient]:
    client = SyncClient(stack.emulator.config.api_key, base_url=stack.emulator.url, retry=NO_RETRY)
    yield client
    client.close()


@pytest.mark.parametrize("case", list(CLIENT_CASES))
def test_the_client_turns_refusals_into_typed_errors_with_the_apis_code(sync_client: SyncClient, case: str) -> None:
    call, status, code = CLIENT_CASES[case]
    with pytest.raises(SyncApiError) as refused:
        call(sync_client)
    assert refused.value.status_code == status
    assert refused.value.error_code == code
    assert not refused.value.retryable  # a 4xx is an answer, not a reason to try again


def test_the_client_never_sends_a_wrong_key_twice(stack: LocalStack) -> None:
    with SyncClient("sk-wrong", base_url=stack.emulator.url) as client, pytest.raises(SyncApiError) as refused:
        client.list_voices()
    assert (refused.value.status_code, refused.value.error_code, refused.value.retryable) == (
        401,
        "unauthorized",
        False,
    )
    assert "sk-wrong" not in str(refused.value)
