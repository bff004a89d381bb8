"""Checks over everything a session's local stack has seen, run by the ``stack`` fixture's finalizer after
the session's last end-to-end test (whichever tests ran, in whatever order): a failure here is reported
as an error at that test's teardown and fails the run."""

from __future__ import annotations

import json

import boto3

from revoice.aws.tables import VoiceTable, scan_all
from revoice_local.stack.stack import LocalStack


def nothing_is_held(stack: LocalStack) -> None:
    """No generation slot, nobody in line for one, no voice held by a job that has ended, and no job the
    table calls RUNNING whose execution has ended."""
    slots = stack.generation_slots()
    assert slots.holders() == set(), f"generation slots still held by {sorted(slots.holders())}"
    assert slots.waiting() == [], f"still in line for a slot: {slots.waiting()}"
    running = {str(item["jobId"]) for item in scan_all(stack.job_table()) if item.get("status") == "RUNNING"}
    ended = {job for job in running if stack._execution_status(job) not in (None, "RUNNING")}
    assert ended == set(), "the job table says RUNNING for jobs whose execution has ended"
    registry = VoiceTable(stack.dynamodb.Table(str(stack.plan.outputs["VoicesTableName"])))
    held_by_ended_jobs = {job for record in registry.all() for job in record.holders if job not in running}
    assert held_by_ended_jobs == set()


def _everything_written(stack: LocalStack, logs: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    paginator = stack.s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=stack.bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                body = stack.s3.get_object(Bucket=stack.bucket, Key=item["Key"])["Body"].read()
                seen[f"s3://{item['Key']}"] = body.decode(errors="replace")  # the corpus drops non-UTF-8 too
    listed = stack.sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.state_machine_arn)
    for executions in listed:
        for execution in executions["executions"]:
            seen[f"history:{execution['name']}"] = json.dumps(stack.history(execution["name"]), default=str)
    for output in ("JobsTableName", "VoicesTableName", "SlotsTableName"):
        table = stack.dynamodb.Table(str(stack.plan.outputs[output]))
        seen[f"table:{output}"] = json.dumps(scan_all(table), default=str)
    seen["webhooks"] = json.dumps(stack.emulator.emulator.webhook_log)
    seen["traces"] = json.dumps(stack.xray.documents)
    seen["events"] = json.dumps(stack.published_events)  # a notification's body is an event's detail
    seen["logs"] = "\n".join(logs)
    return seen


def no_secret_was_written(stack: LocalStack, logs: list[str]) -> None:
    """No secret reached a log line, an execution's history, a table, a webhook, a trace, an event or a stored
    result."""
    secrets = {
        "API key": stack.emulator.config.api_key,
        "webhook secret": stack.emulator.config.webhook_secret,
        "API token": stack.api_token,
        "notification signing secret": str(
            boto3.client("secretsmanager").get_secret_value(SecretId=str(stack.plan.outputs["NotifySigningSecretArn"]))[
                "SecretString"
            ]
        ),
    }
    written = _everything_written(stack, logs)
    url = stack.emulator.url
    histories = [text for where, text in written.items() if where.startswith("history:")]
    if histories:  # the scan reaches the data a leak would travel with: the emulator's address is in them
        assert len(written["logs"]) > 1000, "the session's logs were not captured"
        assert any(url in text for text in histories)
    if any(where.endswith("/result.json") for where in written):
        assert any(url in text for where, text in written.items() if where.startswith("s3://"))
    leaks = [
        f"{label} in {where}" for where, text in written.items() for label, value in secrets.items() if value in text
    ]
    assert leaks == []
