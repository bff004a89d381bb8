"""POST /jobs and GET /jobs/{id} over real HTTP through the local HTTP API."""

from __future__ import annotations

import time
from typing import Any

import httpx

from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs
from tests.waiting import wait_until

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


PUBLIC_URL = "https://93.184.216.34/videos/speaker.mp4"  # a public address: no DNS needed to check it


def test_a_job_with_a_url_source_is_answered_at_once_and_fetched_by_its_first_step(
    stack: LocalStack, jobs: Jobs
) -> None:
    """The HTTP API cuts requests at 30 s; a download can take minutes: the job copies its URL sources."""
    with _client(stack) as client:
        asked = time.monotonic()
        answer = client.post(
            "/jobs", json={"source": PUBLIC_URL, "script": LINE}, headers={"Idempotency-Key": jobs.prefix}
        )
        took = time.monotonic() - asked
    assert answer.status_code == 202
    assert took < 10  # nothing was downloaded while the client waited
    job_id = answer.json()["jobId"]
    deadline = time.monotonic() + 30
    while (stack.job(job_id) or {}).get("step") != "fetch":
        assert time.monotonic() < deadline, f"the job never started fetching: {stack.job(job_id)}"
        time.sleep(0.1)
    history = stack.history(job_id)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[:2] == ["Fetch sources?", "Fetch sources"]
    stack.sfn.stop_execution(executionArn=stack.execution_arn(job_id), error="Test", cause="no network here")
    end = stack.wait_for_job(job_id)
    assert end.error is not None
    assert end.error["step"] == "fetch"
    # Stopped while its failed fetch waits out a Retry's backoff, moto's interpreter may end the execution
    # FAILED rather than ABORTED (seen once in 4 suite runs); either way the job ended at the fetch step.
    assert end.error["errorCode"] in ("execution_aborted", "execution_failed")


def test_a_request_past_the_http_apis_30_seconds_is_answered_503_and_its_retry_finds_the_job(
    stack: LocalStack, jobs: Jobs
) -> None:
    # API Gateway's 30 s, shortened. The retry is served by another environment, often started cold: 1-2 s on two
    # busy cores, more than 2.5 s once with four test workers on them.
    stack.api.integration_timeout = 8.0
    stack.stall("revoice.pipeline.jobs_api:start_job", seconds=12, times=1, functions={"ApiFunction"})
    body = {"source": jobs.put_video("speaker"), "script": LINE}
    key = {"Idempotency-Key": f"{jobs.prefix}-slow"}
    try:
        with _client(stack) as client:
            cut = client.post("/jobs", json=body, headers=key)
            assert (cut.status_code, cut.json()) == (503, {"message": "Service Unavailable"})
            retried = client.post("/jobs", json=body, headers=key)  # the key was claimed before any work
            assert retried.status_code == 202
            final = _follow(client, retried.json()["jobId"])[-1]
    finally:
        stack.api.integration_timeout = 30.0
    assert final["status"] == "SUCCEEDED"
    executions = stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(retried.json()["jobId"]) == 1  # one job for the two requests


def test_two_concurrent_requests_with_one_key_and_different_bodies_start_one_job(stack: LocalStack, jobs: Jobs) -> None:
    from concurrent.futures import ThreadPoolExecutor

    source = jobs.put_video("speaker")
    key = {"Idempotency-Key": f"{jobs.prefix}-race"}
    with _client(stack) as client, ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda script: client.post("/jobs", json={"source": source, "script": script}, headers=key),
                ["One.", "Two."],
            )
        )
    assert sorted(a.status_code for a in answers) == [202, 409]


def test_a_campaign_posted_with_lines_runs_each_line_and_a_retry_or_a_bad_line_starts_nothing_more(
    stack: LocalStack, jobs: Jobs
) -> None:
    source = jobs.put_video("speaker")
    body = {"source": source, "lines": [{"script": f"Hello {name}.", "output_name": name} for name in ("ada", "bob")]}
    key = {"idempotency-key": f"{jobs.prefix}-campaign"}
    with _client(stack) as client:
        bad = client.post("/jobs", json={"source": source, "lines": [{"script": "Fine."}, {"model": "lipsync-99"}]})
        first = client.post("/jobs", json=body, headers=key)
        again = client.post("/jobs", json=body, headers=key)
        other = client.post("/jobs", json={**body, "max_cost": 5}, headers=key)
        assert first.status_code == 202, first.text
        campaign_id = first.json()["jobId"]

        def ended() -> dict[str, Any]:  # the row ends after summary.json is written: wait for the row
            answer: dict[str, Any] = client.get(f"/jobs/{campaign_id}").json()
            return answer if answer["status"] != "RUNNING" else {}

        status = wait_until(ended, what="the campaign's end", within=120)
    assert bad.status_code == 400
    assert bad.json()["errorCode"] == "invalid_campaign"
    assert [(p["line"], p["field"]) for p in bad.json()["problems"]] == [(2, "script"), (2, "model")]
    assert (again.status_code, again.json()["jobId"], again.json()["created"]) == (202, campaign_id, False)
    assert other.status_code == 409
    assert status["status"] == "SUCCEEDED", status
    assert status["campaign"]["succeeded"] == 2
    assert stack.s3.head_object(Bucket=stack.bucket, Key=f"results/{campaign_id}/ada/output.mp4")
