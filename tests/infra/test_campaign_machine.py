"""The campaign state machine: its file is its builder's output, its tasks name the campaign function's
operations, and its role allows what a Distributed Map running job executions calls (no more)."""

from __future__ import annotations

import json
from typing import Any

from revoice.pipeline.contract import CampaignOperation
from revoice_local import campaign_statemachine
from revoice_local.stack.template import plan

ASL = json.loads(campaign_statemachine.ASL_FILE.read_text())


def test_the_campaign_asl_file_is_what_the_builder_writes() -> None:
    assert campaign_statemachine.ASL_FILE.read_text() == campaign_statemachine.text(), (
        "infra/statemachine/campaign.asl.json is generated: run python -m revoice_local.campaign_statemachine --write"
    )


def test_every_campaign_operation_is_one_task_and_the_lines_run_as_job_executions() -> None:
    operations = [
        state["Parameters"]["Payload"]["operation"]
        for state in ASL["States"].values()
        if state["Type"] == "Task" and state["Resource"] == "arn:aws:states:::lambda:invoke"
    ]
    assert sorted(operations) == sorted(op.value for op in CampaignOperation)
    run_lines = ASL["States"]["Run lines"]
    assert run_lines["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    [line] = [s for s in run_lines["ItemProcessor"]["States"].values() if s["Type"] == "Task"]
    assert line["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert line["Parameters"]["StateMachineArn"] == "${JobStateMachineArn}"
    assert run_lines["MaxConcurrencyPath"] == "$.maxConcurrency"
    assert run_lines["ToleratedFailurePercentage"] == 100  # a failed line is its job's failure, not the campaign's


def _statements(logical_id: str) -> list[dict[str, Any]]:
    local = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    machine = local.state_machines[logical_id]
    role = next(r for r in local.roles.values() if r.arn == machine.role)
    return [s for document in role.policies.values() for s in document["Statement"]]


def _allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    def matches(pattern: str, value: str) -> bool:
        return pattern == value or (pattern.endswith("*") and value.startswith(pattern[:-1]))

    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if action in actions and any(matches(str(r), resource) for r in resources):
            return True
    return False


def test_the_campaign_machines_role_allows_what_its_map_calls_and_not_the_whole_account() -> None:
    local = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    jobs = local.state_machines["JobStateMachine"]
    campaigns = local.state_machines["CampaignStateMachine"]
    statements = _statements("CampaignStateMachine")
    job_execution = jobs.arn.replace(":stateMachine:", ":execution:") + ":line-1"
    bucket = local.buckets["JobsBucket"]["name"]
    assert _allows(statements, "states:StartExecution", jobs.arn)
    assert _allows(statements, "states:DescribeExecution", job_execution)
    assert _allows(statements, "states:StopExecution", job_execution)
    assert _allows(statements, "states:StartExecution", campaigns.arn)  # the Map's child workflows
    assert _allows(statements, "s3:GetObject", f"arn:aws:s3:::{bucket}/campaigns/x/items.json")
    assert _allows(statements, "s3:PutObject", f"arn:aws:s3:::{bucket}/campaigns/map-results/run/manifest.json")
    assert not _allows(statements, "s3:PutObject", f"arn:aws:s3:::{bucket}/results/x/output.mp4")
    assert not any(s.get("Resource") == "*" and "states:StartExecution" in str(s["Action"]) for s in statements)
