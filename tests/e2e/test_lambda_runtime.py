"""The local stack runs each function as Lambda does: from its built package, in its own execution
environments, with only its own configuration and its own role's permissions, stopped at its Timeout."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from revoice_local import package
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

EVENTS = Path(__file__).resolve().parents[2] / "events"
LINE = "A line for the runtime tests."


def _get_job_event(job_id: str, token: str) -> dict[str, Any]:
    event = dict(json.loads((EVENTS / "http-get-job.json").read_text()))
    event["headers"]["authorization"] = f"Bearer {token}"
    event["pathParameters"] = {"id": job_id}
    event["rawPath"] = f"/jobs/{job_id}"
    event["requestContext"]["http"]["path"] = f"/jobs/{job_id}"
    return event


@contextmanager
def _configured(stack: LocalStack, logical_id: str, **changes: Any) -> Iterator[None]:
    """The function with a changed configuration (as `aws lambda update-function-configuration` does)."""
    lambdas = boto3.client("lambda")
    name = stack.plan.functions[logical_id].name
    before = lambdas.get_function_configuration(FunctionName=name)
    lambdas.update_function_configuration(FunctionName=name, **changes)
    try:
        yield
    finally:
        lambdas.update_function_configuration(
            FunctionName=name,
            Environment={"Variables": dict(before["Environment"].get("Variables", {}))},
            Timeout=before["Timeout"],
            MemorySize=before["MemorySize"],
        )


def test_each_function_runs_in_its_own_environment_from_the_built_package(stack: LocalStack, jobs: Jobs) -> None:
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.status == "SUCCEEDED"
    environments = list(stack.runtime.environments())
    assert {e.config.logical_id for e in environments} >= {"IngestFunction", "PushFunction", "StoreFunction"}
    for environment in environments:
        variables = dict(environment.config.environment)
        assert variables == stack.plan.functions[environment.config.logical_id].environment
        assert environment.package == package.local_build() / environment.config.logical_id


def test_a_function_without_a_variable_its_code_needs_fails_with_a_clear_error(stack: LocalStack, jobs: Jobs) -> None:
    env = dict(stack.plan.functions["ApiFunction"].environment)
    del env["JOBS_TABLE"]
    with _configured(stack, "ApiFunction", Environment={"Variables": env}), pytest.raises(RuntimeError) as failed:
        stack.invoke("ApiFunction", _get_job_event("no-such-job-0000000000000000", stack.api_token))
    assert "jobs_table" in str(failed.value).lower()


def test_a_function_whose_role_lacks_a_permission_its_code_needs_is_refused(stack: LocalStack) -> None:
    iam = boto3.client("iam")
    role = next(r for r in stack.plan.roles.values() if r.arn == stack.plan.functions["ApiFunction"].role)
    name, document = next(
        (n, d) for n, d in role.policies.items() if "dynamodb:GetItem" in json.dumps(d) and "JobsTable" in json.dumps(d)
    )
    iam.delete_role_policy(RoleName=role.name, PolicyName=name)
    try:
        with pytest.raises(RuntimeError) as refused:
            stack.invoke("ApiFunction", _get_job_event("no-such-job-0000000000000000", stack.api_token))
    finally:
        iam.put_role_policy(
            RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", **document})
        )
    assert "not authorized to perform: dynamodb:GetItem" in str(refused.value)
    answer = stack.invoke("ApiFunction", _get_job_event("no-such-job-0000000000000000", stack.api_token))
    assert answer["statusCode"] == 404  # the same call, with the permission back


def test_a_handler_that_runs_past_its_timeout_is_stopped_and_the_job_fails_as_on_aws(
    stack: LocalStack, jobs: Jobs
) -> None:
    stalled = stack.stall(
        "revoice.sync.client:SyncClient.create_generation", seconds=30, times=3, functions={"LipsyncFunction"}
    )
    with _configured(stack, "LipsyncFunction", Timeout=2):
        end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE}, timeout=120)
    assert stalled.fired == 3  # the first attempt and Step Functions' two retries
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"], end.error["errorType"]) == (
        "lipsync",
        "function_timeout",
        "Sandbox.Timedout",
    )
    assert "Task timed out after 2.00 seconds" in end.error["reason"]
    assert stack.runtime.invocations.errors["Sandbox.Timedout"] >= 3


def test_the_memory_size_is_what_the_code_sees(stack: LocalStack) -> None:
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Lines()
    logging.getLogger("revoice.lambda.FailureFunction").addHandler(handler)
    event = dict(json.loads((EVENTS / "execution-aborted.json").read_text()))
    try:
        with _configured(stack, "FailureFunction", MemorySize=384):
            stack.invoke("FailureFunction", event)
    finally:
        logging.getLogger("revoice.lambda.FailureFunction").removeHandler(handler)
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged
    assert {record["function_memory_size"] for record in logged} == {"384"}
    assert any("Memory Size: 384 MB" in line for line in lines)
