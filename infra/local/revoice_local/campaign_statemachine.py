"""The campaign state machine's ASL, built from the names the code defines (as the job machine's is).

Push the videos once, estimate (refuse or stop for a dry run), choose the voice once, plan one item per
line, send the lines' generations as sync. labs batches when the campaign asks for it and wait for them
to end, then a Distributed Map runs each line as a job execution of its own (``states:startExecution.sync:2``,
named by the campaign and the line) at most ``maxConcurrency`` at a time, and the report ends it. A line
that fails is the line's failure (its job records it); the Map goes on.

python -m revoice_local.campaign_statemachine          # print the ASL
python -m revoice_local.campaign_statemachine --write  # refresh infra/statemachine/campaign.asl.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revoice.pipeline.campaign_run import CampaignState
from revoice.pipeline.contract import CampaignOperation, GivenUp
from revoice_local.statemachine import dumps, is_true, path, ready_or_wait, retry, wait, write_or_print

ASL_FILE = Path(__file__).resolve().parents[3] / "infra" / "statemachine" / "campaign.asl.json"
CAMPAIGN_FUNCTION = "${CampaignFunctionArn}"
JOB_STATE_MACHINE = "${JobStateMachineArn}"
JOBS_BUCKET = "${JobsBucketName}"
MAP_RESULTS = "campaigns/map-results"  # each Map run writes its manifest and results under <prefix>/<run>/
REPORT = "Report"


def field(*names: str) -> str:
    return path(*names, model=CampaignState)


def operation(op: CampaignOperation, next_state: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": CAMPAIGN_FUNCTION, "Payload": {"operation": op.value, "campaign.$": "$"}},
        "OutputPath": "$.Payload",
        "Retry": retry(),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": field("error"), "Next": REPORT}],
        "Next": next_state,
    }


def definition() -> dict[str, Any]:
    run_line = {
        "Type": "Task",
        "Comment": "The line as a job of its own: its execution, its row, its results and its failure.",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": JOB_STATE_MACHINE, "Name.$": "$.executionName", "Input.$": "$.state"},
        "ResultSelector": {"status.$": "$.Status"},
        "Retry": [
            {
                "ErrorEquals": ["StepFunctions.ExecutionLimitExceededException", "StepFunctions.SdkClientException"],
                "IntervalSeconds": 2,
                "MaxAttempts": 5,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failed", "Next": "Line ended"}],
        "Next": "Line ended",
    }
    states: dict[str, Any] = {
        "Push videos": operation(CampaignOperation.PUSH, "Estimate"),
        "Estimate": operation(CampaignOperation.ESTIMATE, "Start lines?"),
        "Start lines?": {
            "Type": "Choice",
            "Comment": "A dry run, or nothing left to run (every line succeeded before): straight to the report.",
            "Choices": [is_true(field("run"), "Choose voice")],
            "Default": REPORT,
        },
        "Choose voice": operation(CampaignOperation.VOICE, "Voice ready?"),
        "Voice ready?": ready_or_wait(
            field("job", "voice_ready"),
            "Plan lines",
            field("job", "voice_waits_used_up"),
            "Clone slots stayed busy",
            "Wait for a clone slot",
        ),
        "Wait for a clone slot": wait(field("job", "voice_wait_seconds"), "Choose voice"),
        "Clone slots stayed busy": {
            "Type": "Pass",
            "Result": {"Error": GivenUp.VOICE_SLOTS_BUSY.value, "Cause": GivenUp.VOICE_SLOTS_BUSY.cause},
            "ResultPath": field("error"),
            "Next": REPORT,
        },
        "Plan lines": operation(CampaignOperation.PLAN, "Batches done?"),
        "Batches done?": {
            "Type": "Choice",
            "Comment": "A campaign through sync. labs' Batch API waits for its batches; the lines then only store.",
            "Choices": [is_true(field("batches_done"), "Run lines")],
            "Default": "Run batches",
        },
        "Run batches": operation(CampaignOperation.BATCH, "Wait for batches"),
        "Wait for batches": wait(field("batch_wait_seconds"), "Batches done?"),
        "Run lines": {
            "Type": "Map",
            "Comment": "Each line a job execution; the generation-slot lease keeps the plan's limit across "
            "campaigns and single jobs, so more lines than slots are in flight, ready to take a freed slot.",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.itemsKey"},
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Run line",
                "States": {"Run line": run_line, "Line ended": {"Type": "Succeed"}},
            },
            "MaxConcurrencyPath": field("max_concurrency"),
            "ToleratedFailurePercentage": 100.0,  # moto's ASL parser takes a decimal only (AWS: any number)
            "ResultWriter": {  # named, not read from the state: moto reads these paths from the Map's results
                "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": {"Bucket": JOBS_BUCKET, "Prefix": MAP_RESULTS},
            },
            "ResultPath": None,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": field("error"), "Next": REPORT}],
            "Next": REPORT,
        },
        REPORT: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": CAMPAIGN_FUNCTION,
                "Payload": {"operation": CampaignOperation.REPORT.value, "campaign.$": "$"},
            },
            "OutputPath": "$.Payload",
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}],
            "End": True,
        },
    }
    return {
        "Comment": "revoice campaigns: one speaker, many lines. Generated by python -m "
        "revoice_local.campaign_statemachine --write: edit that, not this file.",
        "StartAt": "Push videos",
        "TimeoutSeconds": 604800,
        "States": states,
    }


def text() -> str:
    return dumps(definition()) + "\n"


def main() -> None:
    write_or_print(ASL_FILE, text())


if __name__ == "__main__":
    main()
