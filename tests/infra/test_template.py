"""The template and the state machine keep the promises the design makes, and the local stack is
derived from them (not from a copy)."""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import pytest

from revoice_local.stack import inprocess
from revoice_local.stack.template import INFRA, load_template, plan

ASL = json.loads((INFRA / "statemachine" / "revoice.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]


def test_the_execution_timeout_outlasts_every_bound_of_its_own_but_is_finite() -> None:
    """A job that waits too long fails with the specific reason of what it waited for; the overall
    timeout is only the safety net behind them."""
    parameters = load_template()["Parameters"]
    longest_generation = 86_400  # the manifest's timeout_seconds may ask for up to a day
    slot_queue = parameters["MaxGenerationWaits"]["Default"] * parameters["GenerationWaitSeconds"]["Default"]
    clone_queue = parameters["MaxSlotWaits"]["Default"] * parameters["SlotWaitSeconds"]["Default"]
    assert longest_generation + slot_queue + clone_queue < ASL["TimeoutSeconds"] <= 7 * 24 * 3600


@pytest.mark.parametrize(
    "name", [n for n, s in STATES.items() if s["Type"] == "Task" and n not in ("Record failure", "Wait for callback")]
)
def test_every_task_retries_transient_errors_and_catches_everything_else(name: str) -> None:
    state = STATES[name]
    retried = {error for rule in state["Retry"] for error in rule["ErrorEquals"]}
    assert "TransientStepError" in retried
    assert "States.Timeout" in retried
    never, *_, crashed = state["Retry"]
    assert never == {"ErrorEquals": ["StepError", "JobInputError", "SyncStepError"], "MaxAttempts": 0}
    assert crashed["ErrorEquals"] == ["States.ALL"]  # a crash mid-step: the steps are safe to run again
    assert crashed["MaxAttempts"] <= 2
    assert all(rule["MaxAttempts"] <= 10 for rule in state["Retry"] if rule["ErrorEquals"] != ["BusyStepError"])
    busy = next(rule for rule in state["Retry"] if rule["ErrorEquals"] == ["BusyStepError"])
    assert busy["MaxDelaySeconds"] <= 60
    assert busy["MaxAttempts"] <= 30
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]]
    assert STATES[state["Catch"][0]["Next"]]["Next"] == "Record failure"
    assert state["TimeoutSecondsPath"] == "$.config.taskTimeoutSeconds"


def test_a_lost_webhook_times_out_into_the_polling_loop() -> None:
    state = STATES["Wait for callback"]
    assert state["Resource"].endswith(".waitForTaskToken")
    assert state["TimeoutSecondsPath"] == "$.config.callbackTimeoutSeconds"
    timeout = next(c for c in state["Catch"] if c["ErrorEquals"] == ["States.Timeout"])
    assert timeout["Next"] == "Wait for lip-sync"
    retried_timeout = next(r for r in state["Retry"] if "States.Timeout" in r["ErrorEquals"])
    assert retried_timeout["MaxAttempts"] == 0  # not swallowed by the crash retrier: it must reach the Catch
    assert state["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Lip-sync failed"}
    assert STATES["Callback or poll?"]["Default"] == "Wait for lip-sync"


def test_every_wait_reads_its_seconds_from_the_job_config() -> None:
    waits = {n: s for n, s in STATES.items() if s["Type"] == "Wait"}
    assert waits
    assert all(s["SecondsPath"].startswith("$.config.") for s in waits.values())


@pytest.mark.parametrize(
    ("choice", "counter"), [("Speech ready?", "$.tts.polls"), ("Lip-sync done?", "$.generation.polls")]
)
def test_every_polling_loop_has_an_attempt_cap(choice: str, counter: str) -> None:
    caps = [rule for rule in STATES[choice]["Choices"] if rule.get("Variable") == counter]
    assert caps
    assert caps[0]["NumericGreaterThanEqualsPath"].startswith("$.config.max")


def test_failed_and_rejected_generations_have_their_own_branch() -> None:
    rules = STATES["Lip-sync done?"]["Choices"]
    failing = next(rule for rule in rules if "Or" in rule)
    assert {r["StringEquals"] for r in failing["Or"]} >= {"FAILED", "REJECTED"}
    assert failing["Next"] == "Lip-sync failed"


def test_every_failure_path_ends_in_the_failure_recorder() -> None:
    for name, state in STATES.items():
        if name.endswith(("failed", "timed out")):
            nxt = state["Next"]
            assert nxt in ("Record failure", "Lip-sync failed", "Speech failed")


def test_the_local_plan_is_the_templates_resources() -> None:
    template = load_template()
    local = plan({"SyncApiKey": "k", "ApiToken": "t" * 16})
    kinds = {lid: r["Type"] for lid, r in template["Resources"].items()}
    assert set(local.functions) == {lid for lid, k in kinds.items() if k == "AWS::Serverless::Function"}
    assert set(local.tables) == {lid for lid, k in kinds.items() if k == "AWS::DynamoDB::Table"}
    assert set(local.state_machines) == {lid for lid, k in kinds.items() if k == "AWS::Serverless::StateMachine"}
    machine = local.state_machines["JobStateMachine"]
    tasks = {"PushFunction", "VoiceFunction", "SpeechFunction", "LipsyncFunction", "StoreFunction", "FailureFunction"}
    for function in local.functions.values():
        assert (function.arn in machine.definition) == (function.logical_id in tasks)
    assert local.functions["WebhookFunction"].http_routes == [("POST", "/webhooks/sync")]
    assert local.functions["ApiFunction"].http_routes == [("POST", "/jobs"), ("GET", "/jobs/{id}")]
    assert local.functions["IngestFunction"].s3_events[0]["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "inbox/"}
    ]


@pytest.mark.parametrize(
    "logical_id", [lid for lid, r in load_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
)
def test_every_function_handler_exists(logical_id: str) -> None:
    module_name, _, attribute = load_template()["Resources"][logical_id]["Properties"]["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_the_api_key_is_a_no_echo_parameter_kept_in_secrets_manager() -> None:
    template = load_template()
    assert template["Parameters"]["SyncApiKey"]["NoEcho"] is True
    assert template["Resources"]["SyncApiKeySecret"]["Type"] == "AWS::SecretsManager::Secret"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert "SYNC_API_KEY" not in env
    assert env["SYNC_API_KEY_SECRET_ARN"] == {"Ref": "SyncApiKeySecret"}


def test_the_moto_seam_the_local_stack_relies_on_is_still_there() -> None:
    cls = inprocess.seam_target()
    parameters = list(inspect.signature(cls._invoke_lambda).parameters)
    assert parameters[:2] == ["self", "event"]


def test_the_seam_guard_fails_loudly_if_moto_moves_it() -> None:
    with pytest.raises(RuntimeError, match="moto no longer has"):
        inprocess.seam_target(("moto.awslambda.models", "LambdaFunction", "_invoke_lambda_renamed"))
