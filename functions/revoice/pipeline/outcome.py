"""What the systems around revoice are told when a job ends: one versioned document, published on
EventBridge (source ``revoice``) and POSTed to the job's ``notify_url``.

It names S3 keys, never signed URLs, and carries no secret: it is built from ``result.json`` or
``error.json``, which hold neither. A new field is a minor change; a removed or renamed one raises
``schemaVersion`` (docs/events.md, and the schema in docs/job-event.schema.json).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

SOURCE = "revoice"
SCHEMA_VERSION: Literal["1"] = "1"


class DetailType(StrEnum):
    SUCCEEDED = "Job Succeeded"
    FAILED = "Job Failed"  # a step failed, the job timed out, or its execution was aborted
    REJECTED = "Job Rejected"  # bad input at the door: nothing was started


class JobOutputs(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    video: str
    speech: str | None = None
    result: str


class JobOutcome(BaseModel):
    """The ``detail`` of a job's end event (camelCase on the wire)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    schema_version: Literal["1"] = SCHEMA_VERSION
    job_id: str
    status: Literal["SUCCEEDED", "FAILED", "REJECTED"]
    trigger: Literal["s3", "http"]
    trigger_key: str | None = None
    step: str | None = None
    outputs: JobOutputs | None = None
    timings: dict[str, float] | None = None
    error_code: str | None = None
    reason: str | None = None
    error_key: str | None = None
    finished_at: str
    notify: bool = False  # the job asked for a notification: the notifier's rule matches on it

    @property
    def detail_type(self) -> DetailType:
        return {"SUCCEEDED": DetailType.SUCCEEDED, "FAILED": DetailType.FAILED}.get(self.status, DetailType.REJECTED)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def succeeded(result: dict[str, Any], *, result_key: str, notify: bool) -> JobOutcome:
    """The outcome of a job whose ``result.json`` is ``result``."""
    trigger = result.get("trigger") or {}
    return JobOutcome(
        job_id=result["jobId"],
        status="SUCCEEDED",
        trigger=_trigger(trigger.get("key")),
        trigger_key=trigger.get("key"),
        outputs=JobOutputs(video=result["outputs"]["video"], speech=result["outputs"].get("speech"), result=result_key),
        timings=result.get("timings"),
        finished_at=result["finishedAt"],
        notify=notify,
    )


def ended_badly(document: dict[str, Any], *, error_key: str, notify: bool) -> JobOutcome:
    """The outcome of a job whose ``error.json`` is ``document`` (failed, timed out, aborted, rejected)."""
    return JobOutcome(
        job_id=document["jobId"],
        status="REJECTED" if document.get("status") == "REJECTED" else "FAILED",
        trigger=_trigger(document.get("trigger")),
        trigger_key=document.get("trigger"),
        step=document.get("step"),
        error_code=document.get("errorCode"),
        reason=document.get("reason"),
        error_key=error_key,
        finished_at=document["failedAt"],
        notify=notify,
    )


def _trigger(key: str | None) -> Literal["s3", "http"]:
    return "http" if (key or "").startswith("api/") else "s3"
