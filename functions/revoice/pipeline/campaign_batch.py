"""A campaign's generations through sync. labs' Batch API (Scale and Enterprise plans), when the campaign
asks for it (``batch``, or the stack's default).

The lines a batch can take (enough of them, inputs short enough) are sent as batches of at most
``max_requests`` (and ``max_bytes``) generate requests, each line's script as text in the request, so
sync. labs synthesizes it there; a batch runs outside the plan's per-generation concurrency. Once a
batch ends, each of its lines' Map items carries its generation: the line's job then only checks it and
stores the result. A line a batch could not take (a plan without the Batch API answers 402, a batch
refused, a row without a generation) runs line by line like any other, and the summary says why.
Nothing here is sent twice: a batch whose answer was lost is looked for before another is sent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from revoice.pipeline.clock import Timestamp, now, stamp
from revoice.pipeline.errors import from_sync
from revoice.pipeline.lipsync import generation_request
from revoice.pipeline.state import GenerationState, JobState, Section
from revoice.sync.errors import BUSY_CODES, SyncApiError, SyncError, SyncTransportError
from revoice.sync.models import BatchRequest

if TYPE_CHECKING:
    from revoice.pipeline.campaign_run import CampaignState
    from revoice.pipeline.ports import ObjectStore, SyncApi

BATCH_FIELD = "batch"  # which batch a Map item's line went into
CLOCK_SKEW = timedelta(minutes=1)  # between our clock and sync. labs', when looking for a batch by its creation


class BatchLimits(BaseModel):
    """What sync. labs takes in one batch. Its pages disagree (20-500 requests and inputs up to 30 s, or up
    to 1,000 requests and 5 MB): each one is the stack's parameter."""

    min_requests: int = 20
    max_requests: int = 500
    max_bytes: int = 5 * 1024 * 1024
    max_input_seconds: float = 30.0
    poll_seconds: int = 60


class SyncBatch(Section):
    number: int
    lines: int
    id: str | None = None
    status: str = "NOT SENT"
    done: bool = False
    sent_at: Timestamp | None = None  # the last POST: a batch created since, of this size, may be its answer
    fallback: str | None = None  # why its lines run one by one instead


def run_batches(state: CampaignState, *, store: ObjectStore, sync: SyncApi, limits: BatchLimits) -> CampaignState:
    """Send what is not sent yet and check what runs; once every batch has ended, the Map's items carry
    their generations and the campaign goes on to run its lines."""
    items: list[dict[str, Any]] = store.read_json(state.items_key) or []
    if not state.batches:
        state.batches = _split(items, state, limits)
        if not state.batches:
            return _finish(state, limits)
        store.put_json(state.items_key, items)  # each line marked with its batch
    for batch in state.batches:
        if batch.done:
            continue
        if batch.id is None:
            if not _send(batch, items, state, sync):
                break  # sync. labs is at its batch limit, or the plan has none: try again next round
        else:
            _check(batch, items, sync)
            if batch.done:
                store.put_json(state.items_key, items)
    return _finish(state, limits)


def _finish(state: CampaignState, limits: BatchLimits) -> CampaignState:
    state.batches_done = all(batch.done for batch in state.batches)
    state.batch_wait_seconds = 0 if state.batches_done else limits.poll_seconds
    return state


def _split(items: list[dict[str, Any]], state: CampaignState, limits: BatchLimits) -> list[SyncBatch]:
    """Mark each line a batch can take with its batch's number; None when too few can."""
    fit = [item for item in items if _fits(item, limits)]
    if len(fit) < limits.min_requests:
        state.batch_note = (
            f"{len(fit)} of the {len(items)} lines can go into a batch (inputs of {limits.max_input_seconds:.0f} s "
            f"at most), fewer than the {limits.min_requests} a batch needs: every line ran one by one"
        )
        return []
    batches: list[SyncBatch] = []
    size = 0
    for item in fit:
        request = len(_request(item).jsonl())
        if not batches or batches[-1].lines >= limits.max_requests or size + request > limits.max_bytes:
            batches.append(SyncBatch(number=len(batches), lines=0))
            size = 0
        batches[-1].lines += 1
        size += request
        item[BATCH_FIELD] = batches[-1].number
    if len(batches) > 1 and batches[-1].lines < limits.min_requests:  # the remainder runs one by one
        for item in fit:
            if item.get(BATCH_FIELD) == batches[-1].number:
                del item[BATCH_FIELD]
        batches.pop()
    return batches


def _fits(item: dict[str, Any], limits: BatchLimits) -> bool:
    duration = JobState.model_validate(item["state"]).assets.target.duration_seconds  # type: ignore[union-attr]
    return duration is None or duration <= limits.max_input_seconds


def _request(item: dict[str, Any]) -> BatchRequest:
    """The line's generate request with its script as text (sync. labs speaks it in the batch) and no
    webhook (the batch's end is what the campaign waits for)."""
    state = _batched_state(item)
    return BatchRequest(request_id=item["executionName"], payload=generation_request(state))


def _batched_state(item: dict[str, Any]) -> JobState:
    state = JobState.model_validate(item["state"])
    state.manifest = state.manifest.model_copy(update={"speech": "text"})
    state.config = state.config.model_copy(update={"webhook_url": None})
    return state


def _members(items: list[dict[str, Any]], batch: SyncBatch) -> list[dict[str, Any]]:
    return [item for item in items if item.get(BATCH_FIELD) == batch.number]


def _send(batch: SyncBatch, items: list[dict[str, Any]], state: CampaignState, sync: SyncApi) -> bool:
    """Send ``batch``; False when nothing more should be sent this round."""
    members = _members(items, batch)
    if batch.sent_at is not None and _adopt(batch, state, sync):
        return True
    batch.sent_at = now()
    try:
        sent = sync.create_batch([_request(item) for item in members])
    except SyncApiError as error:
        if error.status_code == 402:
            _fall_back(state, items, "sync. labs answered 402: this plan has no Batch API (Scale and Enterprise)")
            return False
        if error.error_code in BUSY_CODES:
            return False
        if error.retryable:
            return False  # the answer may have been lost with the batch made: looked for next round
        _fall_back_batch(batch, items, f"sync. labs refused the batch ({error.error_code}): {error.message}")
        return True
    except SyncTransportError:
        return False
    batch.id, batch.status = sent.id, sent.status
    return True


def _adopt(batch: SyncBatch, state: CampaignState, sync: SyncApi) -> bool:
    """A batch of this size created since the last send that no other batch of the campaign has: the lost
    answer's. True when it was found."""
    assert batch.sent_at is not None
    try:
        found = sync.list_batches(created_after=stamp(batch.sent_at - CLOCK_SKEW))
    except SyncError as error:
        raise from_sync(error, "looking for a batch whose answer was lost") from error
    known = {b.id for b in state.batches if b.id}
    match = next((b for b in found if b.id not in known and b.metrics.total_generations == batch.lines), None)
    if match is None:
        return False
    batch.id, batch.status = match.id, match.status
    return True


def _check(batch: SyncBatch, items: list[dict[str, Any]], sync: SyncApi) -> None:
    """Read the batch; once it ended, each of its lines' items gets its generation (or none: one by one)."""
    assert batch.id is not None
    try:
        current = sync.get_batch(batch.id)
        batch.status = current.status
        if not current.finished:
            return
        rows = {row.request_id: row for row in sync.batch_results(current)}
    except SyncError as error:
        if error.retryable:
            return
        raise from_sync(error, f"checking sync. labs batch {batch.id}") from error
    unstarted = 0
    for item in _members(items, batch):
        row = rows.get(item["executionName"])
        if row is None or row.generation_id is None:
            unstarted += 1
            del item[BATCH_FIELD]  # never started: it runs one by one
            continue
        state = _batched_state(item)
        state.generation = GenerationState(
            id=row.generation_id, status=row.status or "PENDING", model=state.config.model, started_at=now()
        )
        item["state"] = state.wire()
    if unstarted:
        batch.fallback = f"{unstarted} of its {batch.lines} requests got no generation: they ran one by one"
    batch.done = True


def _fall_back(state: CampaignState, items: list[dict[str, Any]], why: str) -> None:
    state.batch_note = why
    for batch in state.batches:
        if batch.id is None and not batch.done:
            _fall_back_batch(batch, items, why)


def _fall_back_batch(batch: SyncBatch, items: list[dict[str, Any]], why: str) -> None:
    for item in _members(items, batch):
        del item[BATCH_FIELD]
    batch.done, batch.fallback = True, why
