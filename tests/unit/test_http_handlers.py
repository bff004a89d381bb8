"""The HTTP-facing handlers (the jobs API, sync. labs' webhook) and the notifier, fed their sample events
through in-memory ports with the network off."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from revoice.pipeline.contract import LipsyncOperation
from revoice.pipeline.layout import result_key
from revoice.pipeline.lipsync import generation_request
from revoice.pipeline.state import GenerationState, JobState
from revoice.sync.webhook import sign
from tests.fakes import World
from tests.unit.conftest import SOURCE, Context, event, handler, invoke


def test_the_callback_sample_parks_its_token_and_the_signed_webhook_resumes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("callback-wait.json")
    generation_id = sample["state"]["generation"]["id"]
    world.sync.polls = 2  # sync. labs knows the generation; it is still running when the token is parked
    world.sync.requests[generation_id] = generation_request(JobState.model_validate(sample["state"]))
    world.tokens.open.add(sample["taskToken"])
    assert invoke("LipsyncFunction", sample, world, monkeypatch) == {"outcome": "parked"}

    body = _webhook_arrives(generation_id, world, monkeypatch)
    resumed = world.tokens.outputs[sample["taskToken"]]
    assert resumed is not None
    assert (resumed["status"], resumed["outputUrl"]) == ("COMPLETED", body["outputUrl"])


def _webhook_arrives(generation_id: str, world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The webhook sample for ``generation_id``, freshly signed, answered "resumed"; its body."""
    webhook = event("http-webhook.json")
    body = json.loads(webhook["body"])
    body["id"] = generation_id
    raw = json.dumps(body)
    world.secrets["arn:webhook"] = "whsec_test"
    webhook["headers"]["sync-signature"] = sign(raw.encode(), "whsec_test")
    webhook["body"] = raw
    monkeypatch.setenv("SYNC_WEBHOOK_SECRET_ARN", "arn:webhook")
    answer = invoke("WebhookFunction", webhook, world, monkeypatch)
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"outcome": "resumed"})
    return dict(body)


def test_the_webhook_hands_the_slot_to_the_job_in_line_and_wakes_it_with_the_generation_it_started(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("callback-wait.json")
    ended = JobState.model_validate(sample["state"])
    assert ended.generation is not None
    world.sync.polls = 2
    world.sync.requests[ended.generation.id] = generation_request(ended)
    world.tokens.open.add(sample["taskToken"])
    world.lease.acquire(ended.job.id)
    for n in range(world.lease.limit - 1):
        world.lease.acquire(f"busy-{n}")
    assert invoke("LipsyncFunction", sample, world, monkeypatch) == {"outcome": "parked"}
    start = event("lipsync-start.json")
    start["state"]["job"]["id"] = "next-in-line-5e1f"
    waiting = JobState.model_validate(invoke("LipsyncFunction", start, world, monkeypatch))
    assert waiting.waiting_for == "slot"
    world.tokens.open.add("token-next")
    join = {"operation": LipsyncOperation.JOIN_THE_LINE, "state": waiting.wire(), "taskToken": "token-next"}
    assert invoke("LipsyncFunction", join, world, monkeypatch) == {"outcome": "in line"}

    _webhook_arrives(ended.generation.id, world, monkeypatch)
    assert waiting.job.id in world.lease.holders()  # woken, holding the slot that ended
    assert world.sync.generation_posts == [waiting.job.request_key]  # its generation started by the webhook
    [started] = set(world.sync.requests) - {ended.generation.id}
    woken = waiting.model_copy(
        update={"generation": GenerationState.model_validate(world.tokens.outputs["token-next"])}
    )
    assert woken.generation is not None
    assert (woken.generation.id, woken.generation.done, woken.generation.polls) == (started, False, 0)
    world.tokens.open.add("token-callback")
    park = {"operation": LipsyncOperation.AWAIT_CALLBACK, "state": woken.wire(), "taskToken": "token-callback"}
    assert invoke("LipsyncFunction", park, world, monkeypatch) == {"outcome": "parked"}  # no second start
    assert world.jobs.records[waiting.job.id]["syncStatus"] == f"generation {woken.generation.status}"  # not "waiting"

    asks = {"operation": LipsyncOperation.GENERATE, "state": waiting.wire()}  # as after a timed-out wait
    resumed = JobState.model_validate(invoke("LipsyncFunction", asks, world, monkeypatch))
    assert resumed.generation is not None
    assert resumed.generation.id == started  # its own request (same key, same body) finds that one
    assert world.sync.generation_posts == [waiting.job.request_key] * 2


def test_the_webhook_sample_signed_long_ago_is_refused_and_touches_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.secrets["arn:webhook"] = "whsec_test"
    monkeypatch.setenv("SYNC_WEBHOOK_SECRET_ARN", "arn:webhook")
    answer = invoke("WebhookFunction", event("http-webhook.json"), world, monkeypatch)
    assert (answer["statusCode"], json.loads(answer["body"])["message"]) == (401, "stale signature timestamp")
    assert world.callbacks.rows == {}


def _api(world: World, monkeypatch: pytest.MonkeyPatch, sample: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    module = handler("ApiFunction", world, monkeypatch)
    world.secrets[module.settings.api_token_secret_arn] = "replace-with-your-api-token"
    answer = module.handler(sample, Context())
    return answer["statusCode"], json.loads(answer["body"])


def test_the_post_job_sample_starts_a_job_once_per_idempotency_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = _api(world, monkeypatch, event("http-post-job.json"))
    assert (status, body["status"]) == (202, "RUNNING"), body
    assert list(world.executions.started) == [body["jobId"]]
    again_status, again = _api(world, monkeypatch, event("http-post-job.json"))
    assert (again_status, again["jobId"], len(world.executions.started)) == (status, body["jobId"], 1)
    changed = event("http-post-job.json")
    changed["body"] = changed["body"].replace("Hello from revoice!", "Another line")
    conflict_status, conflict = _api(world, monkeypatch, changed)
    assert (conflict_status, conflict["errorCode"]) == (409, "idempotency_key_conflict")


def test_the_get_job_sample_reports_the_job_and_a_wrong_token_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("http-get-job.json")
    job_id = sample["pathParameters"]["id"] if "pathParameters" in sample else sample["rawPath"].rsplit("/", 1)[-1]
    world.jobs.accepted(job_id, "api/x", SOURCE, "arn:execution")
    status, body = _api(world, monkeypatch, sample)
    assert (status, body["jobId"], body["status"]) == (200, job_id, "RUNNING")
    sample["headers"]["authorization"] = "Bearer not-the-token"
    assert _api(world, monkeypatch, sample)[0] == 403


def test_base64_bodies_are_read_like_plain_ones(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = event("http-post-job.json")
    sample["body"] = base64.b64encode(sample["body"].encode()).decode()
    sample["isBase64Encoded"] = True
    assert _api(world, monkeypatch, sample)[0] == 202


def test_the_notifier_posts_a_finished_jobs_outcome_to_its_notify_url(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from revoice.pipeline import url_source
    from revoice.pipeline.outcome import JobOutcome

    monkeypatch.setattr(url_source, "resolve", lambda host: ["93.184.216.34"])
    module = handler("NotifyFunction", world, monkeypatch)
    world.secrets[module.settings.notify_secret_arn] = "signing-secret"
    received: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    transport = httpx.MockTransport(receive)
    monkeypatch.setattr(module, "_http", lambda: httpx.Client(transport=transport))
    sample = event("job-ended.json")
    job_id = sample["detail"]["jobId"]
    world.jobs.accepted(job_id, f"api/{job_id}", SOURCE, "arn:execution", notify_url="https://hooks.example.com/r")
    assert module.handler(sample, Context())["status"] == "delivered"
    [request] = received
    assert str(request.url) == "https://hooks.example.com/r"
    assert json.loads(request.content) == {"type": "Job Succeeded", "job": JobOutcome(**sample["detail"]).wire()}
    assert world.jobs.records[job_id]["notification"]["attempts"] == 1
    world.jobs.records["j-2"] = {"jobId": "j-2"}  # a job that named no notify_url
    sample["detail"]["jobId"] = "j-2"
    assert module.handler(sample, Context()) == {"status": "none"}


def test_a_job_asking_to_notify_a_private_address_is_refused_and_starts_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revoice.pipeline import url_source

    monkeypatch.setattr(url_source, "resolve", lambda host: ["192.168.1.20"])
    sample = event("http-post-job.json")
    body = json.loads(sample["body"])
    sample["body"] = json.dumps({**body, "notify_url": "https://router.home/hook"})
    status, answer = _api(world, monkeypatch, sample)
    assert (status, answer["errorCode"]) == (400, "unsafe_url")
    assert answer["message"].startswith("notify_url: ")
    assert world.executions.started == {}


def test_a_finished_job_is_reported_with_download_links_and_how_its_notification_went(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("http-get-job.json")
    job_id = sample["pathParameters"]["id"]
    world.jobs.accepted(job_id, "api/x", SOURCE, "arn:execution", notify_url="https://hooks.example.com/r")
    world.jobs.succeeded(job_id, result_key(job_id))
    world.jobs.notified(job_id, {"status": "delivered", "attempts": 2})
    outputs = {"video": f"results/{job_id}/output.mp4", "speech": f"results/{job_id}/speech.wav"}
    world.bucket.put_json(result_key(job_id), {"jobId": job_id, "outputs": outputs, "timings": {"total": 9.1}})
    status, body = _api(world, monkeypatch, sample)
    assert status == 200
    assert set(body["links"]) == {"video", "speech", "result"}
    assert body["links"]["video"].startswith(f"https://{world.bucket.bucket}.s3.test/{outputs['video']}?")
    assert body["linksExpireInSeconds"] == 3600
    assert body["notification"] == {"status": "delivered", "attempts": 2}


def _page(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    module = handler("ApiFunction", world, monkeypatch)
    answer = module.handler(event("http-get-console.json"), Context())
    return answer, answer["body"]


def test_the_console_page_is_served_without_a_token_with_its_script_bound_to_one_nonce(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revoice.pipeline.contract import Step
    from revoice.sync.models import MODELS, SYNC_MODES

    answer, page = _page(world, monkeypatch)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"].startswith("text/html")
    policy = answer["headers"]["Content-Security-Policy"]
    [nonce] = set(re.findall(r"'nonce-([^']+)'", policy))
    assert page.count(f'nonce="{nonce}"') == 2
    assert "__NONCE__" not in page
    config = json.loads(re.search(r"const CONFIG = (\{.*?\});\n", page).group(1))  # type: ignore[union-attr]
    assert config["models"] == list(MODELS)
    assert config["syncModes"] == list(SYNC_MODES)
    assert [name for name, _ in config["steps"]] == [step.value for step in Step]
    assert config["advice"]["source_missing"]
    assert "replace-with-your-api-token" not in page
    assert nonce not in _page(world, monkeypatch)[1]  # a fresh nonce for every answer


def test_the_upload_sample_gets_a_presigned_post_for_a_fresh_key_under_uploads(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = _api(world, monkeypatch, event("http-post-upload.json"))
    assert status == 201, body
    assert re.fullmatch(r"uploads/[0-9a-f]{16}/speaker-take-2\.mp4", body["key"])
    assert body["fields"]["key"] == body["key"]
    assert body["url"]
    assert json.loads(body["fields"]["policy"])["max_bytes"] == 1843200  # the size it announced, no more
    again = _api(world, monkeypatch, event("http-post-upload.json"))[1]
    assert again["key"] != body["key"]


@pytest.mark.parametrize(
    ("filename", "size", "code"),
    [
        ("notes.txt", 10, "unsupported_file"),
        ("empty.mp4", 0, "empty_source"),
        ("huge.mp4", 6 * 1024**3, "source_too_large"),
        (None, 10, "invalid_manifest"),
    ],
)
def test_an_upload_that_cannot_become_a_source_is_refused_before_anything_is_signed(
    world: World, monkeypatch: pytest.MonkeyPatch, filename: str | None, size: int, code: str
) -> None:
    sample = event("http-post-upload.json")
    sample["body"] = json.dumps({"size": size} if filename is None else {"filename": filename, "size": size})
    status, body = _api(world, monkeypatch, sample)
    assert (status, body["errorCode"]) == (400, code), body


def test_the_list_sample_answers_the_recent_jobs_newest_first(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        world.jobs.accepted(f"job-{n}", f"api/job-{n}", SOURCE, "arn:execution")
    world.jobs.rejected("job-3", "inbox/bad.json", "invalid_manifest", "script: missing", "failed/job-3/error.json")
    status, body = _api(world, monkeypatch, event("http-list-jobs.json"))
    assert status == 200
    assert [job["jobId"] for job in body["jobs"]] == ["job-3", "job-2", "job-1", "job-0"]
    assert (body["jobs"][0]["status"], body["jobs"][0]["errorCode"]) == ("REJECTED", "invalid_manifest")
    sample = event("http-list-jobs.json")
    sample["headers"] = {}
    assert _api(world, monkeypatch, sample)[0] == 401


def test_a_failed_job_is_reported_with_what_to_do_about_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from revoice.pipeline.advice import ADVICE

    sample = event("http-get-job.json")
    job_id = sample["pathParameters"]["id"]
    world.jobs.accepted(job_id, "api/x", SOURCE, "arn:execution")
    world.jobs.failed(job_id, "voice", "voice_not_found", "no voice v-1", f"failed/{job_id}/error.json")
    status, body = _api(world, monkeypatch, sample)
    assert (status, body["errorCode"], body["whatToDo"]) == (200, "voice_not_found", ADVICE["voice_not_found"])
