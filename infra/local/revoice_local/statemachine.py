"""The job state machine's ASL, built from the names the code defines.

Every error name, step name, operation and state path in ``infra/statemachine/revoice.asl.json``
comes from ``revoice.pipeline`` (the classes in ``errors``, the enums in ``contract``, the fields of
``JobState``), and the file is this module's output: a test fails when they differ.

python -m revoice_local.statemachine          # print the ASL
python -m revoice_local.statemachine --write  # refresh the file (then python -m revoice_local.diagram --write)
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from revoice.pipeline.contract import JOB_FAILED, WOKEN_TO_ASK, GivenUp, LipsyncOperation, Step
from revoice.pipeline.errors import (
    BusyStepError,
    JobInputError,
    StepError,
    SyncStepError,
    TransientStepError,
    VoiceSlotsBusy,
)
from revoice.pipeline.state import JobState

ASL_FILE = Path(__file__).resolve().parents[3] / "infra" / "statemachine" / "revoice.asl.json"
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# Which exception classes each Retry rule names: one place, so a class the code raises has a rule.
NEVER_RETRIED = (StepError, JobInputError, SyncStepError)
BUSY = (BusyStepError, VoiceSlotsBusy)
TRANSIENT = (TransientStepError,)
STEP_FUNCTIONS = {  # each function's ARN is substituted by the template's DefinitionSubstitutions
    Step.FETCH: "${FetchFunctionArn}",
    Step.PUSH: "${PushFunctionArn}",
    Step.VOICE: "${VoiceFunctionArn}",
    Step.SPEECH: "${SpeechFunctionArn}",
    Step.LIPSYNC: "${LipsyncFunctionArn}",
    Step.STORE: "${StoreFunctionArn}",
}
FAILURE_FUNCTION = "${FailureFunctionArn}"
RECORD_FAILURE = "Record failure"


def wire_fields(model: type[BaseModel]) -> dict[str, tuple[str, type[BaseModel] | None]]:
    """A model's fields (computed ones too) by their Python name: the name on the wire and the section's model."""
    found: dict[str, tuple[str, type[BaseModel] | None]] = {}
    every: list[tuple[str, str | None, Any]] = [
        (name, info.alias, info.annotation) for name, info in model.model_fields.items()
    ] + [(name, info.alias, info.return_type) for name, info in model.model_computed_fields.items()]
    for name, alias, annotation in every:
        nested = next((t for t in _types(annotation) if isinstance(t, type) and issubclass(t, BaseModel)), None)
        found[name] = (alias or name, nested)
    return found


def path(*fields: str, model: type[BaseModel] = JobState) -> str:
    """The JSONPath of a field of the job state, as it is on the wire; a field that does not exist is an error."""
    names: list[str] = []
    current: type[BaseModel] | None = model
    for name in fields:
        known = wire_fields(current) if current else {}
        if name not in known:
            raise KeyError(f"{current.__name__ if current else names[-1]} has no field {name!r}")
        alias, current = known[name]
        names.append(alias)
    return "$." + ".".join(names)


def _types(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _names(*classes: type[Exception]) -> list[str]:
    return [cls.__name__ for cls in classes]


def retry(*, transient_attempts: int = 5, not_retried: list[str] | None = None) -> list[dict[str, Any]]:
    backoff: dict[str, Any] = {"BackoffRate": 2.0, "JitterStrategy": "FULL"}
    capped = {**backoff, "MaxDelaySeconds": 60}
    rules: list[dict[str, Any]] = [
        {"ErrorEquals": _names(*NEVER_RETRIED), "MaxAttempts": 0},
        {"ErrorEquals": _names(*BUSY), "IntervalSeconds": 5, "MaxAttempts": 25, **capped, "BackoffRate": 1.5},
        {
            "ErrorEquals": [*_names(*TRANSIENT), *LAMBDA_SERVICE_ERRORS],
            "IntervalSeconds": 2,
            "MaxAttempts": transient_attempts,
            **capped,
        },
    ]
    if not_retried:  # a wait that timed out (or a wake-up to ask again) is caught, never retried as it is
        rules.append({"ErrorEquals": not_retried, "MaxAttempts": 0})
    rules.append({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 2, **backoff})
    return rules


# The state that records each step as the failed one, on the way to the failure recorder.
FAILED_STATE = {
    Step.FETCH: "Fetch failed",
    Step.PUSH: "Push failed",
    Step.VOICE: "Voice failed",
    Step.SPEECH: "Speech failed",
    Step.LIPSYNC: "Lip-sync failed",
    Step.STORE: "Store failed",
}


def task(
    step: Step, next_state: str, *, operation: LipsyncOperation | None = None, transient_attempts: int = 5
) -> dict[str, Any]:
    """A step's Lambda task: the whole state in (inside an envelope naming the operation, for a function
    that has several), the state moved on out, errors to the step's failure."""
    payload: dict[str, Any] = (
        {"Payload.$": "$"} if operation is None else {"Payload": {"operation": operation.value, "state.$": "$"}}
    )
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": STEP_FUNCTIONS[step], **payload},
        "OutputPath": "$.Payload",
        "Retry": retry(transient_attempts=transient_attempts),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED_STATE[step]}],
        "Next": next_state,
    }


def token_task(
    operation: LipsyncOperation,
    next_state: str,
    *,
    comment: str,
    result_path: str | None,
    timeout: str,
    on_timeout: str,
    ask_again: list[str] | None = None,
) -> dict[str, Any]:
    """A lip-sync operation that hands the function a task token and waits to be resumed; a wait that times
    out (or is ended with one of the ``ask_again`` errors) goes on to ``on_timeout`` with the state as it
    was."""
    caught = ["States.Timeout", *(ask_again or [])]
    return {
        "Type": "Task",
        "Comment": comment,
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": STEP_FUNCTIONS[Step.LIPSYNC],
            "Payload": {"operation": operation.value, "state.$": "$", "taskToken.$": "$$.Task.Token"},
        },
        "ResultPath": result_path,
        "TimeoutSecondsPath": timeout,
        "Retry": retry(not_retried=caught),
        "Catch": [
            {"ErrorEquals": caught, "ResultPath": None, "Next": on_timeout},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED_STATE[Step.LIPSYNC]},
        ],
        "Next": next_state,
    }


def ready_or_wait(
    ready: str, next_state: str, used_up: str, gave_up_state: str, wait_state: str, comment: str | None = None
) -> dict[str, Any]:
    """A bounded wait's Choice: on when ``ready``, give up when the waits are ``used_up``, else wait again."""
    choice: dict[str, Any] = {"Type": "Choice"}
    if comment:
        choice["Comment"] = comment
    choice["Choices"] = [is_true(ready, next_state), is_true(used_up, gave_up_state)]
    choice["Default"] = wait_state
    return choice


def is_true(variable: str, next_state: str) -> dict[str, Any]:
    return {"Variable": variable, "BooleanEquals": True, "Next": next_state}


def gave_up(error: GivenUp, step: Step) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Result": {"Error": error.value, "Cause": error.cause},
        "ResultPath": "$.error",
        "Next": FAILED_STATE[step],
    }


def config(name: str) -> str:
    return path("config", name)


def wait(seconds_path: str, next_state: str) -> dict[str, Any]:
    return {"Type": "Wait", "SecondsPath": seconds_path, "Next": next_state}


def definition() -> dict[str, Any]:
    states: dict[str, Any] = {
        "Fetch sources?": {
            "Type": "Choice",
            "Comment": "Sources named by https URL (POST /jobs) are copied into the bucket first, by a step of "
            "the job: the HTTP request has answered long before. A campaign line comes with its videos pushed and "
            "its voice chosen: on to its speech.",
            "Choices": [is_true(path("needs_fetch"), "Fetch sources"), is_true(path("prepared"), "Speech or text?")],
            "Default": "Push media",
        },
        "Fetch sources": task(Step.FETCH, "Push media"),
        "Push media": task(Step.PUSH, "Ensure voice"),
        "Ensure voice": task(Step.VOICE, "Voice ready?"),
        "Voice ready?": ready_or_wait(
            path("voice_ready"),
            "Speech or text?",
            path("voice_waits_used_up"),
            "Clone slots stayed busy",
            "Wait for a clone slot",
            comment="No voice yet means every clone slot is held by running jobs, or sync. labs' clone rate "
            "limit said when to come back: wait as the step said, a bounded number of times.",
        ),
        "Wait for a clone slot": wait(path("voice_wait_seconds"), "Ensure voice"),
        "Clone slots stayed busy": gave_up(GivenUp.VOICE_SLOTS_BUSY, Step.VOICE),
        "Speech or text?": {
            "Type": "Choice",
            "Choices": [is_true(path("speech_in_generation"), "Start lip-sync")],
            "Default": "Start speech",
        },
        "Start speech": task(Step.SPEECH, "Speech ready?"),
        "Speech ready?": ready_or_wait(
            path("tts", "done"), "Start lip-sync", path("tts", "polls_used_up"), "Speech timed out", "Wait for speech"
        ),
        "Wait for speech": wait(config("tts_poll_seconds"), "Check speech"),
        "Check speech": task(Step.SPEECH, "Speech ready?"),
        "Speech timed out": gave_up(GivenUp.SPEECH_TIMEOUT, Step.SPEECH),
        "Start lip-sync": task(
            Step.LIPSYNC, "Generation started?", operation=LipsyncOperation.GENERATE, transient_attempts=8
        ),
        "Generation started?": {
            "Type": "Choice",
            "Comment": "No generation yet: every generation slot of the plan is taken (join the line), or sync. "
            "labs said 429 (wait and ask again). Bounded.",
            "Choices": [
                is_true(path("generation_started"), "Callback or poll?"),
                is_true(path("generation_waits_used_up"), "Generation slots stayed busy"),
                is_true(path("waiting_for_sync"), "Wait for sync. labs"),
            ],
            "Default": "Wait for a generation slot",
        },
        "Wait for sync. labs": wait(config("poll_seconds"), "Start lip-sync"),
        "Wait for a generation slot": token_task(
            LipsyncOperation.JOIN_THE_LINE,
            "Callback or poll?",
            comment="Joins the line for a slot; the job that gives one back starts the longest-waiting job's "
            "generation and wakes it with it. A wake-up without one, or a lost wake-up that times out, asks again.",
            result_path=path("generation"),
            timeout=config("generation_wait_seconds"),
            on_timeout="Start lip-sync",
            ask_again=[WOKEN_TO_ASK],
        ),
        "Generation slots stayed busy": gave_up(GivenUp.GENERATION_SLOTS_BUSY, Step.LIPSYNC),
        "Callback or poll?": {
            "Type": "Choice",
            "Comment": "A generation already ended (one a campaign's batch ran) needs neither.",
            "Choices": [
                is_true(path("generation", "done"), "Lip-sync done?"),
                is_true(path("awaits_callback"), "Wait for callback"),
            ],
            "Default": "Wait for lip-sync",
        },
        "Wait for callback": token_task(
            LipsyncOperation.AWAIT_CALLBACK,
            "Lip-sync done?",
            comment="Parks the task token by generation id; the webhook handler resumes it. A lost webhook times "
            "out into the polling loop.",
            result_path=path("generation"),
            timeout=config("callback_timeout_seconds"),
            on_timeout="Wait for lip-sync",
        ),
        "Wait for lip-sync": wait(config("poll_seconds"), "Check lip-sync"),
        "Check lip-sync": task(Step.LIPSYNC, "Lip-sync done?", operation=LipsyncOperation.GENERATE),
        "Lip-sync done?": {
            "Type": "Choice",
            "Choices": [
                is_true(path("generation", "succeeded"), "Store results"),
                is_true(path("generation", "done"), FAILED_STATE[Step.LIPSYNC]),
                is_true(path("generation", "polls_used_up"), "Lip-sync timed out"),
            ],
            "Default": "Wait for lip-sync",
        },
        "Lip-sync timed out": gave_up(GivenUp.LIPSYNC_TIMEOUT, Step.LIPSYNC),
        "Store results": task(Step.STORE, "Done"),
        "Done": {"Type": "Succeed"},
    }
    for step, name in FAILED_STATE.items():
        states[name] = {"Type": "Pass", "Result": step.value, "ResultPath": path("failed_step"), "Next": RECORD_FAILURE}
    states[RECORD_FAILURE] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FAILURE_FUNCTION, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}],
        "Next": "Failed",
    }
    states["Failed"] = {
        "Type": "Fail",
        "Error": JOB_FAILED,
        "Cause": "The job failed; see failed/<job>/error.json in the jobs bucket.",
    }
    return {
        "Comment": "revoice: push media to sync. labs, clone the voice, synthesize the script, lip-sync it, store "
        "the result. Generated by python -m revoice_local.statemachine --write: edit that, not this file.",
        "StartAt": "Fetch sources?",
        "TimeoutSeconds": 172800,
        "States": states,
    }


def dumps(value: Any, indent: str = "") -> str:
    """JSON with a value on one line when it fits in 120 columns, so a state reads as one block."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(indent) + len(flat) <= 120 or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, list):
        items = [inner + dumps(item, inner) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    pairs = [f"{inner}{json.dumps(key)}: {dumps(item, inner)}" for key, item in value.items()]
    return "{\n" + ",\n".join(pairs) + f"\n{indent}}}"


def text() -> str:
    return dumps(definition()) + "\n"


def write_or_print(asl_file: Path, asl: str) -> None:
    """What ``python -m`` of an ASL builder does: ``--write`` refreshes the file, else it prints the ASL."""
    if "--write" in sys.argv:
        asl_file.write_text(asl)
    else:
        sys.stdout.write(asl)


def main() -> None:
    write_or_print(ASL_FILE, text())


if __name__ == "__main__":
    main()
