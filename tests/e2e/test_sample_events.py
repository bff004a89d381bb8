"""The sample events in events/ are what the handlers really receive, and the handlers accept them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoice.handlers.events import S3Event
from revoice.pipeline.state import JobState
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("state-*.json")))
def test_every_state_sample_is_a_valid_job_state(name: str) -> None:
    state = JobState.model_validate(load(name))
    assert state.job.id


@pytest.mark.parametrize("name", ["s3-manifest-put.json", "s3-video-put.json"])
def test_every_s3_sample_parses(name: str) -> None:
    assert S3Event.model_validate(load(name)).Records[0].version


def test_the_manifest_sample_starts_a_job_through_the_ingest_handler(stack: LocalStack, jobs: Jobs) -> None:
    key = "inbox/product launch.json"
    body = json.dumps({"source": jobs.put_video("speaker"), "script": "Launch day!"}).encode()
    etag = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body)["ETag"].strip('"')
    event = load("s3-manifest-put.json")
    event["Records"][0]["s3"]["bucket"]["name"] = stack.bucket
    event["Records"][0]["s3"]["object"]["eTag"] = etag
    [outcome] = stack.invoke("IngestFunction", event)["jobs"]
    assert outcome["status"] in ("started", "duplicate")
    assert outcome["job_id"].startswith("product-launch-")
    assert stack.wait_for_job(outcome["job_id"]).status == "SUCCEEDED"


def test_the_aborted_sample_is_recorded_by_the_failure_handler(stack: LocalStack) -> None:
    event = load("execution-aborted.json")
    document = stack.invoke("FailureFunction", event)
    assert (document["errorCode"], document["jobId"]) == ("execution_aborted", event["detail"]["name"])
    assert stack.read_json(f"failed/{event['detail']['name']}/error.json") == document


@pytest.mark.parametrize("name", ["lipsync-start.json", "lipsync-poll.json", "slot-wait.json", "callback-wait.json"])
def test_every_lipsync_sample_names_its_operation_and_carries_a_job_state(name: str) -> None:
    from revoice.pipeline.contract import LipsyncOperation

    event = load(name)
    operation = LipsyncOperation(event["operation"])
    assert JobState.model_validate(event["state"]).job.id
    assert ("taskToken" in event) is (operation is not LipsyncOperation.GENERATE)


def test_the_callback_wait_sample_is_a_job_state_and_a_task_token() -> None:
    event = load("callback-wait.json")
    assert JobState.model_validate(event["state"]).generation is not None
    assert event["taskToken"]


def test_the_slot_wait_sample_joins_the_line_and_a_token_nobody_waits_on_is_dropped(stack: LocalStack) -> None:
    event = load("slot-wait.json")
    slots = stack.generation_slots()
    assert len(slots.holders()) < slots.limit  # a slot is free: the line is served at once
    assert stack.invoke("LipsyncFunction", event) == {"outcome": "in line"}  # its token woke nobody
    assert event["state"]["job"]["id"] not in [waiter.job_id for waiter in slots.waiting()]


def test_the_failure_sample_names_the_step_and_the_generation_error(stack: LocalStack) -> None:
    event = load("state-failure.json")
    event["job"]["bucket"] = stack.bucket
    document = stack.invoke("FailureFunction", event)
    assert (document["step"], document["errorCode"]) == ("lipsync", "lipsync_face_not_found")


def test_the_webhook_sample_is_refused_as_stale_and_accepted_once_re_signed(stack: LocalStack) -> None:
    from revoice.sync.webhook import sign

    event = load("http-webhook.json")
    stale = stack.invoke("WebhookFunction", event)
    assert (stale["statusCode"], json.loads(stale["body"])["message"]) == (401, "stale signature timestamp")
    event["headers"]["sync-signature"] = sign(event["body"].encode(), stack.emulator.config.webhook_secret)
    fresh = stack.invoke("WebhookFunction", event)
    assert (fresh["statusCode"], json.loads(fresh["body"])["outcome"]) == (200, "stored")


def test_the_api_samples_are_answered_by_the_api_handler(stack: LocalStack, jobs: Jobs) -> None:
    post, get = load("http-post-job.json"), load("http-get-job.json")
    for event in (post, get):
        event["headers"]["authorization"] = f"Bearer {stack.api_token}"
    body = json.loads(post["body"])
    body.update(source=jobs.put_video("speaker"), target=jobs.put_video("presenter"))
    post["body"] = json.dumps(body)
    post["headers"]["idempotency-key"] = f"{jobs.prefix}-sample"
    started = json.loads(stack.invoke("ApiFunction", post)["body"])
    assert started["status"] == "RUNNING"
    get["pathParameters"]["id"] = started["jobId"]
    get["rawPath"] = get["requestContext"]["http"]["path"] = f"/jobs/{started['jobId']}"
    report = stack.invoke("ApiFunction", get)
    assert (report["statusCode"], json.loads(report["body"])["jobId"]) == (200, started["jobId"])
    assert stack.wait_for_job(started["jobId"]).status == "SUCCEEDED"
