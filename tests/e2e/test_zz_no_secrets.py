"""After every other end-to-end test: no secret reached a log line, an event, a table or a stored result.

Runs last in this folder (its name), over all the session's local stack has seen.
"""

from __future__ import annotations

import json

from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import SESSION_LOGS


def _everything_written(stack: LocalStack) -> dict[str, str]:
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
        seen[f"table:{output}"] = json.dumps(table.scan()["Items"], default=str)
    seen["webhooks"] = json.dumps(stack.emulator.emulator.webhook_log)
    seen["logs"] = "\n".join(SESSION_LOGS.lines)
    return seen


def test_no_secret_reaches_logs_events_tables_or_results(stack: LocalStack) -> None:
    secrets = {
        "API key": stack.emulator.config.api_key,
        "webhook secret": stack.emulator.config.webhook_secret,
        "API token": stack.api_token,
    }
    written = _everything_written(stack)
    assert len(written["logs"]) > 1000, "the session's logs were not captured"
    assert any(name.startswith("history:") for name in written)
    # The scan reaches the data a leak would travel with: the emulator's address is in histories and results.
    assert any(stack.emulator.url in text for where, text in written.items() if where.startswith("history:"))
    assert any(stack.emulator.url in text for where, text in written.items() if where.startswith("s3://"))
    leaks = [
        f"{label} in {where}" for where, text in written.items() for label, value in secrets.items() if value in text
    ]
    assert leaks == []
