"""Which voice a job speaks in: a named voice, a clone of the same source made earlier, or a new clone.

Clone slots are scarce: when sync. labs answers 403 ``voice_clone_limit_reached``, the least recently
used revoice clone that no running job holds is deleted and the clone retried. Slots held by running
jobs are worth waiting for (the job comes back without a voice, and the state machine waits and asks
again, a bounded number of times); slots full of voices
revoice did not make are not (the job fails, saying so). When a job ends it lets go of its voice, and
an ephemeral clone is deleted there and then.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from revoice.pipeline.clock import now
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import StepError, SyncStepError, VoiceSlotsBusy, from_sync
from revoice.pipeline.ports import JobRecords, VoiceRegistry
from revoice.pipeline.state import JobState, VoiceState
from revoice.pipeline.voices import VoiceRecord, clone_job_id, clone_name_for
from revoice.sync.errors import SyncApiError, SyncError

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi
from revoice.sync.models import Voice

log = logging.getLogger(__name__)
MAX_SLOTS_FREED = 3  # per voice step: a slot a job frees can be taken by another job's clone before it retries
MAX_VOICE_WAIT_SECONDS = 3600
CLONE_WINDOW_WAIT_SECONDS = 600  # 10 clones an hour: a tenth of the window, MaxSlotWaits (20) times at most
JobIsRunning = Callable[[str], bool]


def clone_name(state: JobState) -> str:
    """The same on every retry of the job's voice step, so a retried clone is recognised, not repeated."""
    return clone_name_for(state.job.id, state.job.received_at, state.manifest.voice_name)


def ensure_voice(state: JobState, *, sync: SyncApi, registry: VoiceRegistry, jobs: JobRecords) -> JobState:
    assert state.assets is not None
    if state.voice is not None:  # a campaign line: its campaign chose (and holds) the voice for every line
        return state
    job_id = state.job.id
    jobs.entered(job_id, Step.VOICE)
    started = now()
    manifest = state.manifest
    try:
        if manifest.voice_id:
            voice, cloned = _named(manifest.voice_id, sync), False
            held = registry.get(manifest.voice_id) is not None and registry.hold(manifest.voice_id, job_id)
        else:
            reused = _reusable(state, sync, registry) if manifest.voice == "reuse" else None
            voice, held, cloned = (reused, True, False) if reused else (_clone(state, sync, registry, jobs), True, True)
    except VoiceSlotsBusy as busy:
        return _come_back(state, state.config.slot_wait_seconds, busy.reason)
    except SyncError as error:
        if isinstance(error, SyncApiError) and error.error_code == "rate_limit_exceeded":
            # Cloning is limited per hour: the answer may be "in 40 minutes", longer than any retry rule,
            # and the documented 429 says neither when (no Retry-After): then the clone window is waited on.
            return _come_back(state, error.retry_after or CLONE_WINDOW_WAIT_SECONDS, "sync. labs' clone rate limit")
        raise from_sync(error, "choosing the voice") from error
    voice_id = _identified(voice)
    jobs.holding_voice(job_id, voice_id)
    state.voice = VoiceState(
        id=voice_id,
        name=voice.name or voice_id,
        cloned=cloned,
        held=held,
        ephemeral=manifest.voice == "ephemeral" and cloned,
        started_at=started,
        finished_at=now(),
    )
    return state


def _come_back(state: JobState, seconds: float, why: str) -> JobState:
    """No voice yet: the state machine waits ``seconds`` (at least one, at most an hour) and asks again."""
    state.voice_waits += 1
    state.voice_wait_seconds = max(1, min(MAX_VOICE_WAIT_SECONDS, math.ceil(seconds)))
    log.info("waiting before asking for a voice again", extra={"reason": why, "waits": state.voice_waits})
    return state


def _identified(voice: Voice) -> str:
    if not voice.id:
        raise SyncStepError("voice_not_found", f"sync. labs answered a voice without an id ({voice.name})")
    return voice.id


def _named(voice_id: str, sync: SyncApi) -> Voice:
    try:
        voice = sync.get_voice(voice_id)
    except SyncApiError as error:
        if error.status_code == 404:
            raise SyncStepError(
                "voice_not_found", f"the voice {voice_id} named by the job does not exist at sync. labs"
            ) from error
        raise
    if not voice.can_speak:
        raise SyncStepError(
            "voice_restricted",
            f"the voice {voice_id} cannot speak yet (sync. labs says {voice.restriction}): verify it at sync. labs, "
            "or name another voice",
        )
    return voice.model_copy(update={"id": voice.id or voice_id})


def _reusable(state: JobState, sync: SyncApi, registry: VoiceRegistry) -> Voice | None:
    """A clone of the same source audio that sync. labs still lists, now held by this job."""
    assert state.assets is not None
    source_hash = state.assets.source.sha256
    if not source_hash:
        return None
    listed: dict[str, Voice] | None = None
    for record in registry.by_source(source_hash):
        if not registry.hold(record.voice_id, state.job.id):
            continue
        listed = listed if listed is not None else {v.id: v for v in sync.list_voices() if v.id}
        if record.voice_id in listed:
            return listed[record.voice_id]
        registry.forget(record.voice_id)
    return None


def _clone(state: JobState, sync: SyncApi, registry: VoiceRegistry, jobs: JobRecords) -> Voice:
    assert state.assets is not None
    name = clone_name(state)
    voice = _clone_making_room(name, state.assets.source.asset_id, sync, registry, jobs)
    registry.record(
        _identified(voice),
        name,
        source_hash=state.assets.source.sha256 or "",
        source_key=state.assets.source.key,
        job_id=state.job.id,
        ephemeral=state.manifest.voice == "ephemeral",
    )
    return voice


def _clone_making_room(name: str, asset_id: str, sync: SyncApi, registry: VoiceRegistry, jobs: JobRecords) -> Voice:
    """Clone; while the clone slots are full, free the least recently used idle clone and try again."""
    freed = 0
    while True:
        try:
            return sync.clone_voice(name, asset_id=asset_id)
        except SyncApiError as error:
            if error.error_code == "voice_name_conflict":  # an earlier attempt of this step made it
                earlier = next((v for v in sync.list_voices() if v.name == name), None)
                if earlier is None:
                    raise
                return earlier
            if error.error_code != "voice_clone_limit_reached":
                raise
            if freed == MAX_SLOTS_FREED:
                raise VoiceSlotsBusy(
                    "voice_clone_slots_busy",
                    f"other jobs' clones took each of the {freed} clone slots this job freed; "
                    "the job waits and asks again",
                ) from error
            if free_a_slot(registry, sync, jobs.is_running) is None:
                raise _no_free_slot(registry, sync, jobs.is_running) from error
            freed += 1


def free_a_slot(registry: VoiceRegistry, sync: SyncApi, job_is_running: JobIsRunning) -> str | None:
    """Delete the least recently used revoice clone nobody holds; return its id, or None."""
    records = sorted(registry.all(), key=lambda r: r.last_used_at)
    for record in records:
        release_stale_holders(record, registry, job_is_running)
        if not registry.claim_for_deletion(record.voice_id):
            continue
        try:
            sync.delete_voice(record.voice_id)
        except SyncApiError as error:
            if error.status_code != 404:
                registry.unclaim(record.voice_id)
                raise
            registry.forget(record.voice_id)  # already gone at sync. labs: it held no slot
            continue
        registry.forget(record.voice_id)
        log.info("freed a clone slot", extra={"voice_id": record.voice_id, "idle_since": record.last_used_at})
        return record.voice_id
    return None


def release_stale_holders(record: VoiceRecord, registry: VoiceRegistry, job_is_running: JobIsRunning) -> None:
    """Holds by jobs that are no longer running (a crash before they let go) do not count."""
    for job_id in record.holders:
        if not job_is_running(job_id):
            registry.release(record.voice_id, job_id)


def _no_free_slot(registry: VoiceRegistry, sync: SyncApi, job_is_running: JobIsRunning) -> StepError:
    """Busy if revoice's own clones fill the slots: held by running jobs, cloned a moment ago and not
    recorded yet, or recorded but not freed just now (another job is deleting it, or let go of it while
    this one tried: a race, not a full plan)."""
    ours = len(registry.all())
    if not ours:  # none recorded: one a running job cloned a moment ago and has not recorded yet counts too
        ours = sum(1 for voice in sync.list_voices() if (maker := clone_job_id(voice.name)) and job_is_running(maker))
    if ours:
        return VoiceSlotsBusy(
            "voice_clone_slots_busy",
            f"every clone slot is in use: {ours} revoice clone(s) "
            "are held by running jobs or being freed; the job waits for one",
        )
    return SyncStepError(
        "voice_clone_limit_reached",
        "every clone slot of the sync. labs plan is taken by voices "
        "revoice did not make (or cannot delete); nothing was deleted. Free a slot with "
        "DELETE /v2/voices/{id} or raise the plan's clone limit, then drop the job again",
    )


def release_voice(job_id: str, voice_id: str | None, *, registry: VoiceRegistry, sync: SyncApi) -> None:
    """The job is over: let go of its voice, and delete it now if it was an ephemeral clone."""
    if not voice_id:
        return
    record = registry.get(voice_id)
    if record is None:
        return
    registry.release(voice_id, job_id)
    if not record.ephemeral or not registry.claim_for_deletion(voice_id):
        return
    try:
        sync.delete_voice(voice_id)
    except SyncApiError as error:
        if error.status_code != 404:
            registry.unclaim(voice_id)
            log.warning("could not delete an ephemeral clone; cleanup will", extra={"voice_id": voice_id})
            return
    except SyncError:
        registry.unclaim(voice_id)
        log.warning("could not delete an ephemeral clone; cleanup will", extra={"voice_id": voice_id})
        return
    registry.forget(voice_id)
