"""POST /jobs and GET /jobs/{id} over real HTTP through the local HTTP API."""

from __future__ import annotations

import time
from typing import Any

import httpx

from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

LINE = "Started over HTTP."


def _client(stack: LocalStack, token: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token or stack.api_token}"} if token != "" else {}
    return httpx.Client(base_url=stack.api.url, headers=headers, timeout=30)


def _follow(client: httpx.Client, job_id: str, timeout: float = 60) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/jobs/{job_id}")
        assert answer.status_code == 200
        seen.append(answer.json())
        if seen[-1]["status"] in ("SUCCEEDED", "FAILED", "REJECTED"):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end: {seen[-1]}")


def test_a_job_posted_over_http_completes_and_get_follows_it(stack: LocalStack, jobs: Jobs) -> None:
    with _client(stack) as client:
        answer = client.post(
            "/jobs", json={"source": jobs.put_video("speaker"), "script": LINE, "output_name": "from_api"}
        )
        assert answer.status_code == 202
        started = answer.json()
        assert started["statusUrl"] == f"{stack.api.url}/jobs/{started['jobId']}"
        states = _follow(client, started["jobId"])
    steps = [s["step"] for s in states]
    assert steps[-1] == "done"
    final = states[-1]
    assert final["status"] == "SUCCEEDED"
    assert final["outputs"]["video"] == f"results/{started['jobId']}/output.mp4"
    assert set(final["timings"]) >= {"push", "voice", "lipsync", "store"}


def test_a_retried_post_with_the_same_idempotency_key_gives_the_same_job(stack: LocalStack, jobs: Jobs) -> None:
    body = {"source": jobs.put_video("speaker"), "script": LINE}
    key = {"Idempotency-Key": f"{jobs.prefix}-once"}
    with _client(stack) as client:
        first = client.post("/jobs", json=body, headers=key).json()
        again = client.post("/jobs", json=body, headers=key).json()
        other = client.post("/jobs", json={**body, "script": "Something else."}, headers=key)
        _follow(client, first["jobId"])
    assert (first["jobId"], first["created"], again["created"]) == (again["jobId"], True, False)
    assert (other.status_code, other.json()["errorCode"]) == (409, "idempotency_key_conflict")
    executions = stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(first["jobId"]) == 1


def test_get_reports_a_failed_job_with_its_reason(stack: LocalStack, jobs: Jobs) -> None:
    from revoice_local.emulator.config import FaultRule

    stack.emulator.emulator.faults.replace([FaultRule(target="generation", kind="reject")])
    with _client(stack) as client:
        started = client.post("/jobs", json={"source": jobs.put_video("speaker"), "script": LINE}).json()
        final = _follow(client, started["jobId"])[-1]
    assert (final["status"], final["errorCode"]) == ("FAILED", "generation_rejected")
    assert final["errorKey"] == f"failed/{started['jobId']}/error.json"
