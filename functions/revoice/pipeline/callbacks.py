"""Completion callbacks: a job parks its Step Functions task token; sync. labs' webhook resumes it.

One row per generation id holds whichever arrives first, the token or the webhook, so neither order
loses the job: the second to arrive resumes it. A duplicate or late webhook finds the job already
resumed (Step Functions refuses a used token) and changes nothing. Rows expire with a TTL.

The moment a generation has ended, its job gives back its generation slot and the next job in line is
woken: that is the webhook's arrival, not the later store step (which gives it back again, harmlessly),
so a freed slot waits for no other step; the webhook also starts the woken job's generation when it
can reach sync. labs (``start_generation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from revoice.pipeline.clock import now
from revoice.pipeline.errors import from_sync
from revoice.pipeline.lipsync import generation_starter
from revoice.pipeline.state import GenerationState, JobState, wire
from revoice.sync.errors import SyncError
from revoice.sync.models import Generation

if TYPE_CHECKING:
    from revoice.pipeline.ports import CallbackStore, JobRecords, Resumer, SyncApi
    from revoice.pipeline.slots import GenerationSlots, StartGeneration

WebhookOutcome = Literal["resumed", "stored", "duplicate", "not_terminal"]


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
    state: JobState,
    token: str,
    *,
    store: CallbackStore,
    resumer: Resumer,
    sync: SyncApi,
    slots: GenerationSlots,
    jobs: JobRecords,
) -> str:
    """Park the token; resume at once if the webhook came first, or if the generation already ended. A
    generation a hand-over started is recorded here (the job's own start step did not run)."""
    assert state.generation is not None
    if state.generation.handed_over:
        jobs.sync_status(state.job.id, f"generation {state.generation.status}")
    parked = wire(state.generation)
    row = store.park(state.generation.id, token, parked, state.job.id)
    start = generation_starter(sync)
    if row.webhook is not None:
        _resume_ended(state.job.id, token, parked, Generation.model_validate(row.webhook), resumer, slots, start)
        return "resumed-by-earlier-webhook"
    try:
        current = sync.get_generation(state.generation.id)
    except SyncError as error:
        raise from_sync(error, "checking the generation before waiting for its webhook") from error
    if current.finished:
        _resume_ended(state.job.id, token, parked, current, resumer, slots, start)
        return "resumed-already-finished"
    return "parked"


def webhook_arrived(
    generation: Generation,
    raw: dict[str, Any],
    *,
    store: CallbackStore,
    resumer: Resumer,
    slots: GenerationSlots,
    start_generation: StartGeneration | None = None,
) -> WebhookOutcome:
    """A verified webhook: give back the job's slot, resume the waiting job, or leave word for it if it is
    not parked yet (it gives the slot back itself when it parks)."""
    if not generation.finished:
        return "not_terminal"
    row = store.arrived(generation.id, raw)
    if row.token is None or row.generation is None:
        return "stored"
    resumed = _resume_ended(row.job_id, row.token, row.generation, generation, resumer, slots, start_generation)
    return "resumed" if resumed else "duplicate"


def _resume_ended(
    job_id: str | None,
    token: str,
    parked: dict[str, Any],
    finished: Generation,
    resumer: Resumer,
    slots: GenerationSlots,
    start_generation: StartGeneration | None,
) -> bool:
    """The generation has ended: its slot goes to the next job in line first, then the job resumes."""
    if job_id is not None:  # rows parked before rows named their job: the store step gives the slot back
        slots.hand_over(job_id, resumer.wake, start_generation)
    return resumer.resume(token, merged(parked, finished))
