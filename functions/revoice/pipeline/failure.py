"""Every bad end of a job becomes ``failed/<job>/error.json`` with the step, a code and a reason.

Three ways in: a step's error caught by the state machine (``$.error`` = ``{Error, Cause}``), a
generation that ended FAILED or REJECTED, and an execution that timed out or was aborted (the
EventBridge status-change event). A job whose result is already stored is never marked failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from revoice.pipeline import layout
from revoice.pipeline.clock import stamp
from revoice.pipeline.contract import JOB_FAILED, describe_step
from revoice.pipeline.errors import ADVICE, parse_error_message
from revoice.pipeline.ports import JobRecords, ObjectStore
from revoice.sync.models import GENERATION_TERMINAL

EXECUTION_ENDS = {"TIMED_OUT": "execution_timeout", "ABORTED": "execution_aborted", "FAILED": "execution_failed"}
# What Lambda itself reports when a function dies rather than raises (its errorType, not an exception's).
LAMBDA_FAILURES = {
    "Sandbox.Timedout": ("function_timeout", "ran past its Timeout and was stopped"),
    "Runtime.OutOfMemory": ("function_out_of_memory", "ran out of its MemorySize"),
    "Runtime.ExitError": ("function_crashed", "exited"),
    "Runtime.ImportModuleError": ("function_broken", "could not be loaded"),
    "Runtime.HandlerNotFound": ("function_broken", "could not be loaded"),
    "Function.ResponseSizeTooLarge": ("function_response_too_large", "answered more than Lambda's 6 MB"),
}


def record_failure(event: dict[str, Any], *, store: ObjectStore, jobs: JobRecords) -> dict[str, Any]:
    """Write the error document for ``event`` (job state or execution status change); return it."""
    status_change = event.get("detail-type") == "Step Functions Execution Status Change"
    document = _execution_ended(event["detail"], jobs) if status_change else _step_failed(event)
    job_id = document["jobId"]
    if store.exists(layout.result_key(job_id)):
        document["ignored"] = "the job's result is already stored; nothing was marked failed"
        return document
    if status_change and document["errorType"] == JOB_FAILED and store.exists(layout.error_key(job_id)):
        # The execution ended FAILED on its way out of "Record failure": the document it wrote stays.
        document["ignored"] = "the job's failure is already recorded"
        return document
    jobs.failed(job_id, document["step"], document["errorCode"], document["reason"], layout.error_key(job_id))
    store.put_json(layout.error_key(job_id), document)
    return document


def _step_failed(state: dict[str, Any]) -> dict[str, Any]:
    job = state["job"]
    step = state.get("failedStep") or "unknown"
    code, reason, error_type = describe(state.get("error"), step, state.get("generation"))
    document = {
        "jobId": job["id"],
        "status": "FAILED",
        "step": step,
        "errorCode": code,
        "reason": reason,
        "errorType": error_type,
        "trigger": job.get("key"),
        "source": state.get("manifest", {}).get("source"),
        "failedAt": stamp(),
    }
    sync_ids = {name: state[name]["id"] for name in ("voice", "tts", "generation") if isinstance(state.get(name), dict)}
    if sync_ids:
        document["sync"] = sync_ids
    return document


def describe(error: dict[str, Any] | None, step: str, generation: dict[str, Any] | None) -> tuple[str, str, str]:
    """(errorCode, reason, errorType) for a caught error, or for a generation that ended badly."""
    doing = describe_step(step)
    if error is None:
        status = (generation or {}).get("status", "UNKNOWN")
        if status in GENERATION_TERMINAL:
            code = (generation or {}).get("errorCode") or f"generation_{status.lower()}"
            detail = (generation or {}).get("error") or "no reason given"
            advice = ADVICE.get(code)
            return (
                code,
                f"sync. labs ended the generation {status}: {detail}" + (f". {advice}" if advice else ""),
                status,
            )
        return "unknown_failure", f"the job failed while {doing}", "Unknown"
    name = str(error.get("Error", "Unknown"))
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        message, error_type = str(parsed.get("errorMessage", "")), str(parsed.get("errorType", name))
    except (ValueError, AttributeError):
        message, error_type = cause, name
    if name == "States.Timeout":
        return "step_timeout", f"{doing} did not finish within its time limit", name
    if error_type in LAMBDA_FAILURES:
        code, what = LAMBDA_FAILURES[error_type]
        detail = message.split(" Error: ", 1)[-1]
        return code, f"{doing} failed: the function {what} ({detail})", error_type
    code, reason = parse_error_message(message)
    if code is not None:
        return code, reason, error_type
    return "internal_error", f"{doing} failed unexpectedly: {error_type}: {message or 'no details'}", error_type


def _execution_ended(detail: dict[str, Any], jobs: JobRecords) -> dict[str, Any]:
    job_id = str(detail.get("name"))
    status = str(detail.get("status"))
    record = jobs.get(job_id) or {}
    step = str(record.get("step") or "unknown")
    try:
        trigger = json.loads(detail.get("input") or "{}").get("job", {}).get("key")
    except ValueError:
        trigger = None
    what = {"TIMED_OUT": "ran past the job's overall time limit", "ABORTED": "was stopped (aborted)"}.get(
        status, f"ended {status}"
    )
    error = detail.get("error")
    because = f" ({error}: {str(detail.get('cause') or 'no cause given')[:500]})" if error else ""
    return {
        "jobId": job_id,
        "status": "FAILED",
        "step": step,
        "errorCode": EXECUTION_ENDS.get(status, "execution_failed"),
        "reason": f"the job's execution {what} while {describe_step(step)}{because}",
        "errorType": str(error or status),
        "trigger": trigger,
        "execution": detail.get("executionArn"),
        "failedAt": stamp(),
    }


def failed_job_id(event: dict[str, Any]) -> str:
    """Whose failure ``event`` is: a job state's, or the execution's in a status-change event."""
    if event.get("detail-type") == "Step Functions Execution Status Change":
        return str(event["detail"]["name"])
    return str(event["job"]["id"])


@dataclass(frozen=True)
class FailedJobHeld:
    voice_id: str | None  # the voice the job was using, to let go of
    notifies: bool  # it named a notify_url


def what_the_failed_job_held(event: dict[str, Any], job_id: str, jobs: JobRecords) -> FailedJobHeld:
    """Read from the job state when the event is one, else from the job's row (read once, and only then)."""
    voice, manifest = event.get("voice"), event.get("manifest")
    if isinstance(voice, dict) and voice.get("id") and isinstance(manifest, dict):
        return FailedJobHeld(str(voice["id"]), manifest.get("notify_url") is not None)
    record = jobs.get(job_id) or {}
    voice_id = str(voice["id"]) if isinstance(voice, dict) and voice.get("id") else record.get("voiceId")
    return FailedJobHeld(str(voice_id) if voice_id else None, bool(record.get("notifyUrl")))
