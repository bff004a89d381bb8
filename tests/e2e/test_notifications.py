"""What a system around revoice gets when a job it started over HTTP ends: a signed notification at its
notify_url (retried while it fails, given up on without touching the job) and download links that work."""

from __future__ import annotations

import json
import socket
import time

import boto3
import httpx

from revoice.sync.webhook import verify
from revoice_local.stack.stack import LocalStack
from tests.conftest import Receiver
from tests.e2e.conftest import Jobs
from tests.e2e.test_jobs_api import _client, _follow

LINE = "Told to whoever asked."


def _signing_secret(stack: LocalStack) -> str:
    arn = str(stack.plan.outputs["NotifySigningSecretArn"])
    return str(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def test_a_receiver_that_first_fails_gets_the_signed_outcome_and_the_links_download_the_results(
    stack: LocalStack, jobs: Jobs, receiver: Receiver
) -> None:
    receiver.answers = [500]
    with _client(stack) as client:
        started = client.post(
            "/jobs", json={"source": jobs.put_video("speaker"), "script": LINE, "notify_url": receiver.url}
        ).json()
        final = _follow(client, started["jobId"])[-1]
        assert final["status"] == "SUCCEEDED"
        assert receiver.arrived.wait(30), "no notification was delivered"
        deadline = time.monotonic() + 10
        while (report := client.get(f"/jobs/{started['jobId']}").json()).get("notification", {}).get(
            "status"
        ) != "delivered":
            assert time.monotonic() < deadline, report
            time.sleep(0.1)
    assert [r["status"] for r in receiver.received] == [500, 204]
    delivered = receiver.received[-1]
    assert verify(
        {"sync-signature": delivered["headers"]["revoice-signature"]}, delivered["body"], _signing_secret(stack)
    )
    assert delivered["json"]["type"] == "Job Succeeded"
    assert delivered["json"]["job"]["outputs"]["video"] == final["outputs"]["video"]
    assert report["notification"]["attempts"] == 2
    for name, key in {**final["outputs"], "result": final["resultKey"]}.items():
        body = httpx.get(report["links"][name]).content  # no credentials: the link is enough
        assert body == stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read(), name
    assert "X-Amz-Expires=3600" in report["links"]["video"]
    tampered = report["links"]["video"].replace(final["outputs"]["video"], final["outputs"]["speech"])
    assert httpx.get(tampered).status_code == 403  # a link opens what it was signed for, nothing else


def test_a_receiver_that_never_answers_is_given_up_on_and_the_job_is_untouched(stack: LocalStack, jobs: Jobs) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        env = dict(stack.plan.functions["NotifyFunction"].environment, NOTIFY_RETRY_SECONDS="2")
        with stack.configured("NotifyFunction", Environment={"Variables": env}), _client(stack) as client:
            url = f"http://127.0.0.1:{port}/hook"
            started = client.post(
                "/jobs", json={"source": jobs.put_video("speaker"), "script": LINE, "notify_url": url}
            )
            job_id = started.json()["jobId"]
            assert _follow(client, job_id)[-1]["status"] == "SUCCEEDED"
            deadline = time.monotonic() + 30
            while (stack.job(job_id) or {}).get("notification", {}).get("status") != "given_up":
                assert time.monotonic() < deadline, stack.job(job_id)
                time.sleep(0.2)
    record = stack.job(job_id) or {}
    assert record["status"] == "SUCCEEDED"
    assert record["notification"]["attempts"] >= 2
    assert "no answer" in record["notification"]["lastError"]
    assert json.dumps(record, default=str).count(url) == 1  # the URL is kept once, in the job's own row
