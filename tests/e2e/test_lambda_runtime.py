"""The local stack runs each function as Lambda does: from its built package, in its own execution
environments, with only its own configuration and its own role's permissions, stopped at its Timeout."""

from __future__ import annotations

import json
import logging
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
    with stack.configured("ApiFunction", Environment={"Variables": env}), pytest.raises(RuntimeError) as failed:
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
    # The generate operation stalls as it starts (not at its sync. labs call, which a loaded machine once took
    # more than the 5 s to reach: the clients are made first), so each attempt is cut by the timeout at the stall.
    stalled = stack.stall("revoice.handlers.lipsync:generate", seconds=30, times=3, functions={"LipsyncFunction"})
    with stack.configured("LipsyncFunction", Timeout=5):
        end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE}, timeout=120)
    assert stalled.fired == 3  # the first attempt and Step Functions' two retries
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"], end.error["errorType"]) == (
        "lipsync",
        "function_timeout",
        "Sandbox.Timedout",
    )
    assert "Task timed out after 5.00 seconds" in end.error["reason"]
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
        with stack.configured("FailureFunction", MemorySize=384):
            stack.invoke("FailureFunction", event)
    finally:
        logging.getLogger("revoice.lambda.FailureFunction").removeHandler(handler)
    job_id = event["detail"]["name"]
    logged = [json.loads(line) for line in lines if line.startswith("{") and job_id in line]
    assert logged
    assert {record["function_memory_size"] for record in logged} == {"384"}
    assert any("Memory Size: 384 MB" in line for line in lines)


def _initialization_type(environment: Any) -> str:
    """What Lambda's AWS_LAMBDA_INITIALIZATION_TYPE says in the environment's own process."""
    variables = Path(f"/proc/{environment.pid}/environ").read_bytes().split(b"\0")
    return next(v.decode().partition("=")[2] for v in variables if v.startswith(b"AWS_LAMBDA_INITIALIZATION_TYPE="))


def test_an_environment_started_ahead_of_its_invocations_is_provisioned_and_serves_them(
    stack: LocalStack, jobs: Jobs
) -> None:
    before = set(stack.runtime.environments())
    stack.runtime.prewarm([stack.moto_function("VoiceFunction")])
    (warmed,) = set(stack.runtime.environments()) - before
    assert _initialization_type(warmed) == "provisioned-concurrency"
    cold_before = stack.runtime.invocations.cold_starts[warmed.config.name]
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.status == "SUCCEEDED"
    assert stack.runtime.invocations.cold_starts[warmed.config.name] == cold_before  # the provisioned one served it
    assert warmed in list(stack.runtime.environments())


def test_a_fault_for_one_function_leaves_the_other_functions_environments_warm(stack: LocalStack) -> None:
    """A fault reaches a function through new environments: only that function's old ones go (a new one
    costs about a second of CPU on a loaded machine), and clearing it retires only those that carry it."""
    stack.runtime.prewarm([stack.moto_function(logical_id) for logical_id in ("VoiceFunction", "ApiFunction")])
    warm = {e.config.logical_id: e for e in stack.runtime.environments() if e.usable}
    voice, api = warm["VoiceFunction"], warm["ApiFunction"]
    stack.stall("revoice.pipeline.jobs_api:start_job", seconds=0, times=0, functions={"ApiFunction"})
    stack.runtime.prewarm([stack.moto_function("ApiFunction")])
    after = set(stack.runtime.environments())
    assert voice in after
    assert api not in after
    (faulted,) = [e for e in after if e.config.logical_id == "ApiFunction"]
    stack.runtime.clear_faults()
    assert set(stack.runtime.environments()) == after - {faulted}


def _as_role(stack: LocalStack, logical_id: str) -> Any:
    """An S3 client with the credentials the function's execution environments get."""
    from revoice_local.stack import iam

    credentials = iam.role_credentials(boto3.client("sts"), stack.plan.functions[logical_id].role, "probe")
    return boto3.client(
        "s3",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def test_a_missing_key_is_a_404_only_to_a_role_that_may_list_the_bucket(stack: LocalStack) -> None:
    """S3 answers 403 for a missing key to whoever lacks s3:ListBucket, so that keys cannot be probed."""
    from botocore.exceptions import ClientError

    answers = {}
    for logical_id in ("PushFunction", "StoreFunction"):  # Push may list the bucket; Store may only write
        with pytest.raises(ClientError) as missing:
            _as_role(stack, logical_id).head_object(Bucket=stack.bucket, Key="media/not-there.mp4")
        answers[logical_id] = missing.value.response["Error"]["Code"]
    assert answers == {"PushFunction": "404", "StoreFunction": "403"}


def test_an_object_beyond_what_s3_keeps_in_memory_is_kept_on_disk_and_reads_back_whole(stack: LocalStack) -> None:
    """A campaign's outputs would otherwise stay in the local stack's memory (moto keeps 5 MB in memory)."""
    import os
    import resource

    from moto.s3.models import s3_backends

    from revoice_local.stack.moto_server import MOST_OPEN_FILES, S3_IN_MEMORY_BYTES
    from revoice_local.stack.template import ACCOUNT

    small, large = os.urandom(S3_IN_MEMORY_BYTES // 2), os.urandom(S3_IN_MEMORY_BYTES * 3)
    for name, body in (("small", small), ("large", large)):
        stack.s3.put_object(Bucket=stack.bucket, Key=f"media/spill-{name}.bin", Body=body)
    bucket = s3_backends[ACCOUNT]["aws"].buckets[stack.bucket]
    on_disk = {name: bucket.keys[f"media/spill-{name}.bin"]._value_buffer._rolled for name in ("small", "large")}
    assert on_disk == {"small": False, "large": True}
    read = stack.s3.get_object(Bucket=stack.bucket, Key="media/spill-large.bin")["Body"].read()
    assert read == large
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # each file on disk holds a descriptor
    assert soft == resource.RLIM_INFINITY or soft >= min(MOST_OPEN_FILES, hard if hard >= 0 else MOST_OPEN_FILES)


def test_a_source_revoice_may_not_read_fails_the_job_with_its_own_reason(stack: LocalStack, jobs: Jobs) -> None:
    iam = boto3.client("iam")
    role = next(r for r in stack.plan.roles.values() if r.arn == stack.plan.functions["PushFunction"].role)
    name, document = next((n, d) for n, d in role.policies.items() if "s3:GetObject" in json.dumps(d))
    source = jobs.put_video("speaker")
    iam.delete_role_policy(RoleName=role.name, PolicyName=name)
    try:
        end = jobs.run({"source": source, "script": LINE})
    finally:
        iam.put_role_policy(
            RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", **document})
        )
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("push", "source_access_denied")
    assert "403" in end.error["reason"]


def test_a_job_whose_failure_recorder_keeps_raising_is_still_recorded_through_the_failed_execution(
    stack: LocalStack, jobs: Jobs
) -> None:
    """Record failure retries, then the execution ends FAILED outside the failure path: the status-change
    rule hands that end to the recorder again, so the job is not left RUNNING with its slot held."""
    from revoice_local.emulator.config import FaultRule
    from revoice_local.stack.runtime import WorkerFault

    attempts = 1 + next(r["MaxAttempts"] for r in _asl()["States"]["Record failure"]["Retry"])
    raising = stack.runtime.inject(
        WorkerFault("revoice.handlers.failure:record_failure", "fail", times=attempts, matching=jobs.prefix)
    )
    stack.emulator.emulator.faults.replace([FaultRule(target="generation", kind="fail", times=1)])
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE}, timeout=120)
    assert raising.fired == attempts
    assert end.status == "FAILED"
    assert end.error is not None
    assert end.error["errorCode"] == "execution_failed"
    assert "simulated failure of record_failure" in end.error["reason"]
    record = stack.job(end.job_id)
    assert record is not None
    assert record["status"] == "FAILED"
    assert end.job_id not in stack.generation_slots().holders()


def _asl() -> dict[str, Any]:
    return dict(json.loads((package.ROOT / "infra" / "statemachine" / "revoice.asl.json").read_text()))


def test_a_sampled_invocation_of_a_traced_function_sends_its_handler_and_aws_calls_to_x_ray(
    stack: LocalStack, jobs: Jobs
) -> None:
    """``Tracing: Active``: Lambda samples the invocation, the function's Tracer records the handler and its
    boto3 calls, and the daemon gets them (the sync. labs calls, with their signed URLs, are not patched)."""
    stack.xray.sample_everything = True
    try:
        end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    finally:
        stack.xray.sample_everything = False
    assert end.status == "SUCCEEDED"
    documents = stack.xray.wait_for(1, timeout=10)
    names = {document["name"] for document in documents}
    assert {"## handler", "s3", "dynamodb", "states"} <= names, names
    traced_calls = {d.get("aws", {}).get("operation") for d in documents if d.get("namespace") == "aws"}
    assert {"PutItem", "UpdateItem"} & traced_calls, traced_calls
    assert not any(stack.emulator.url in json.dumps(document) for document in documents)
