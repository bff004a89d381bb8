"""The state machine keeps the promises the design makes: retries that never overlap an attempt, bounded
loops, waits read from the job, every failure recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from revoice.pipeline.contract import WOKEN_TO_ASK
from revoice_local.stack.template import INFRA, load_template

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
    "name",
    [
        n
        for n, s in STATES.items()
        if s["Type"] == "Task" and n not in ("Record failure", "Wait for callback", "Wait for a generation slot")
    ],
)
def test_every_task_retries_transient_errors_and_catches_everything_else(name: str) -> None:
    state = STATES[name]
    retried = {error for rule in state["Retry"] for error in rule["ErrorEquals"]}
    assert "TransientStepError" in retried
    never, *_, crashed = state["Retry"]
    assert never == {"ErrorEquals": ["StepError", "JobInputError", "SyncStepError"], "MaxAttempts": 0}
    assert crashed["ErrorEquals"] == ["States.ALL"]  # a crash mid-step: the steps are safe to run again
    assert crashed["MaxAttempts"] <= 2
    assert all(rule["MaxAttempts"] <= 10 for rule in state["Retry"] if "BusyStepError" not in rule["ErrorEquals"])
    busy = next(rule for rule in state["Retry"] if "BusyStepError" in rule["ErrorEquals"])
    assert busy["MaxDelaySeconds"] <= 60
    assert busy["MaxAttempts"] <= 30
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]]
    assert STATES[state["Catch"][0]["Next"]]["Next"] == "Record failure"


@pytest.mark.parametrize(
    "name", [n for n, s in STATES.items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"]
)
def test_a_retry_never_starts_while_an_attempt_may_still_run(name: str) -> None:
    """A Step Functions timeout shorter than the function's would retry while the first attempt runs on.
    Lambda tasks have none: the function's Timeout bounds each attempt, and Step Functions retries it
    (Sandbox.Timedout under States.ALL) only once Lambda has stopped it."""
    state = STATES[name]
    assert "TimeoutSeconds" not in state
    assert "TimeoutSecondsPath" not in state
    assert "HeartbeatSeconds" not in state


def test_a_lost_wake_up_times_out_into_asking_for_a_slot_again() -> None:
    state = STATES["Wait for a generation slot"]
    assert state["Resource"].endswith(".waitForTaskToken")
    assert state["TimeoutSecondsPath"] == "$.config.generationWaitSeconds"
    timeout = next(c for c in state["Catch"] if "States.Timeout" in c["ErrorEquals"])
    assert timeout["Next"] == "Start lip-sync"
    assert timeout["ResultPath"] is None  # the state as it was: still no generation
    assert next(r for r in state["Retry"] if "States.Timeout" in r["ErrorEquals"])["MaxAttempts"] == 0
    assert STATES["Generation started?"]["Default"] == "Wait for a generation slot"


def test_a_job_woken_with_its_generation_goes_straight_on_and_one_woken_without_asks_again() -> None:
    state = STATES["Wait for a generation slot"]
    assert (state["ResultPath"], state["Next"]) == ("$.generation", "Callback or poll?")
    asks = next(c for c in state["Catch"] if WOKEN_TO_ASK in c["ErrorEquals"])
    assert (asks["Next"], asks["ResultPath"]) == ("Start lip-sync", None)
    assert next(r for r in state["Retry"] if WOKEN_TO_ASK in r["ErrorEquals"])["MaxAttempts"] == 0
    assert state["Catch"].index(asks) < len(state["Catch"]) - 1  # before States.ALL, the step's failure


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


def test_every_wait_reads_its_seconds_from_the_job_config_or_from_the_step_that_asked_for_it() -> None:
    """Never a fixed ``Seconds``: local runs wait less, and a step may pass on sync. labs' Retry-After."""
    waits = {n: s["SecondsPath"] for n, s in STATES.items() if s["Type"] == "Wait"}
    assert waits
    assert all(path.startswith("$.config.") for name, path in waits.items() if name != "Wait for a clone slot")
    assert waits["Wait for a clone slot"] == "$.voiceWaitSeconds"


@pytest.mark.parametrize(
    ("choice", "cap", "gives_up_in"),
    [
        ("Speech ready?", "$.tts.pollsUsedUp", "Speech timed out"),
        ("Lip-sync done?", "$.generation.pollsUsedUp", "Lip-sync timed out"),
    ],
)
def test_every_polling_loop_has_an_attempt_cap(choice: str, cap: str, gives_up_in: str) -> None:
    """The cap is counted in Python (tests/unit/test_contract.py); the Choice gives up on its boolean."""
    caps = [rule for rule in STATES[choice]["Choices"] if rule.get("Variable") == cap]
    assert caps == [{"Variable": cap, "BooleanEquals": True, "Next": gives_up_in}]


def test_failed_and_rejected_generations_have_their_own_branch() -> None:
    """Which statuses end a generation is decided in Python (``Generation.finished``/``succeeded``, with
    every documented end: FAILED, REJECTED, TIMED_OUT, CANCELED); the Choice reads the booleans."""
    from revoice.pipeline.state import GenerationState
    from revoice.sync.models import GENERATION_FAILED, Generation

    rules = {rule["Variable"]: rule for rule in STATES["Lip-sync done?"]["Choices"]}
    assert rules["$.generation.succeeded"]["Next"] == "Store results"
    assert rules["$.generation.done"]["Next"] == "Lip-sync failed"
    assert {"done", "succeeded"} <= set(GenerationState.model_fields)
    for status in GENERATION_FAILED:
        ended = Generation(id="g", status=status)
        assert (ended.finished, ended.succeeded) == (True, False)
    assert {"FAILED", "REJECTED", "TIMED_OUT", "CANCELED"} <= GENERATION_FAILED


def test_every_failure_path_ends_in_the_failure_recorder() -> None:
    for name, state in STATES.items():
        if name.endswith(("failed", "timed out")):
            nxt = state["Next"]
            assert nxt in ("Record failure", "Lip-sync failed", "Speech failed")
