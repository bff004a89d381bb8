"""Completion callbacks: a job parks its Step Functions task token; sync. labs' webhook resumes it.

One row per generation id holds whichever arrives first, the token or the webhook, so neither order
loses the job: the second to arrive resumes it. A duplicate or late webhook finds the job already
resumed (Step Functions refuses a used token) and changes nothing. Rows expire with a TTL.

The moment a generation has ended, its job gives back its generation slot and the next job in line is
woken: that is the webhook's arrival, not the later store step (which gives it back again, harmlessly),
so a freed slot waits for no other step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from revoice.pipeline.clock import now, stamp
from revoice.pipeline.errors import from_sync
from revoice.pipeline.state import GenerationState, JobState, wire
from revoice.pipeline.stores import error_code
from revoice.sync.errors import SyncError
from revoice.sync.models import Generation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_stepfunctions import SFNClient

    from revoice.sync.client import SyncClient

ROW_TTL_SECONDS = 3 * 24 * 3600
CLOSED_TOKEN = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
WebhookOutcome = Literal["resumed", "stored", "duplicate", "not_terminal"]


@dataclass(frozen=True)
class CallbackRow:
    generation_id: str
    token: str | None
    generation: dict[str, Any] | None
    webhook: dict[str, Any] | None
    job_id: str | None = None


class SlotReleaser(Protocol):
    def hand_over(self, job_id: str, wake: Callable[[str], bool]) -> str | None: ...


class CallbackStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _set(self, generation_id: str, **fields: Any) -> CallbackRow:
        fields["expiresAt"] = int(time.time()) + ROW_TTL_SECONDS
        answer = self._table.update_item(
            Key={"generationId": generation_id},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames={f"#{k}": k for k in fields},
            ExpressionAttributeValues={f":{k}": v for k, v in fields.items()},
            ReturnValues="ALL_NEW",
        )
        item = answer.get("Attributes", {})
        return CallbackRow(
            generation_id=generation_id,
            token=item.get("taskToken"),  # type: ignore[arg-type]
            generation=json.loads(str(item["generation"])) if "generation" in item else None,
            webhook=json.loads(str(item["webhook"])) if "webhook" in item else None,
            job_id=str(item["jobId"]) if "jobId" in item else None,
        )

    def park(self, generation_id: str, token: str, generation: dict[str, Any], job_id: str) -> CallbackRow:
        return self._set(generation_id, taskToken=token, generation=json.dumps(generation), jobId=job_id)

    def arrived(self, generation_id: str, webhook: dict[str, Any]) -> CallbackRow:
        return self._set(generation_id, webhook=json.dumps(webhook), webhookAt=stamp())


class Resumer:
    """Hands a finished generation back to the execution waiting on ``token``."""

    def __init__(self, client: SFNClient) -> None:
        self._sfn = client

    def resume(self, token: str, generation: dict[str, Any]) -> bool:
        """True if the execution was waiting; False when the token was already used or expired."""
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(generation))
        except ClientError as exc:
            if error_code(exc) in CLOSED_TOKEN:
                return False
            raise
        return True

    def wake(self, token: str) -> bool:
        """Wake an execution waiting for a generation slot; False if it stopped waiting."""
        return self.resume(token, {})


def merged(parked: dict[str, Any], finished: Generation) -> dict[str, Any]:
    """The job's ``generation`` section, updated with what the finished generation says."""
    section = GenerationState.model_validate(parked)
    update = {
        "status": finished.status,
        "done": finished.finished,
        "succeeded": finished.succeeded,
        "output_url": finished.output_url,
        "output_duration": finished.output_duration,
        "error": finished.error,
        "error_code": finished.error_code,
        "synthesized_audio_url": finished.synthesized_audio_url,
        "finished_at": now(),
    }
    kept = {k: v for k, v in update.items() if v is not None or k in ("status", "done", "succeeded")}
    return wire(section.model_copy(update=kept))


def park_token(
    state: JobState, token: str, *, store: CallbackStore, resumer: Resumer, sync: SyncClient, slots: SlotReleaser
) -> str:
    """Park the token; resume at once if the webhook came first, or if the generation already ended."""
    assert state.generation is not None
    parked = wire(state.generation)
    row = store.park(state.generation.id, token, parked, state.job.id)
    if row.webhook is not None:
        _resume_ended(state.job.id, token, parked, Generation.model_validate(row.webhook), resumer, slots)
        return "resumed-by-earlier-webhook"
    try:
        current = sync.get_generation(state.generation.id)
    except SyncError as error:
        raise from_sync(error, "checking the generation before waiting for its webhook") from error
    if current.finished:
        _resume_ended(state.job.id, token, parked, current, resumer, slots)
        return "resumed-already-finished"
    return "parked"


def webhook_arrived(
    generation: Generation, raw: dict[str, Any], *, store: CallbackStore, resumer: Resumer, slots: SlotReleaser
) -> WebhookOutcome:
    """A verified webhook: give back the job's slot, resume the waiting job, or leave word for it if it is
    not parked yet (it gives the slot back itself when it parks)."""
    if not generation.finished:
        return "not_terminal"
    row = store.arrived(generation.id, raw)
    if row.token is None or row.generation is None:
        return "stored"
    return (
        "resumed" if _resume_ended(row.job_id, row.token, row.generation, generation, resumer, slots) else "duplicate"
    )


def _resume_ended(
    job_id: str | None,
    token: str,
    parked: dict[str, Any],
    finished: Generation,
    resumer: Resumer,
    slots: SlotReleaser,
) -> bool:
    """The generation has ended: its slot goes to the next job in line first, then the job resumes."""
    if job_id is not None:  # rows parked before rows named their job: the store step gives the slot back
        slots.hand_over(job_id, resumer.wake)
    return resumer.resume(token, merged(parked, finished))
