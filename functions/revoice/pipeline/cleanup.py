"""The scheduled sweep of revoice's clones. It only ever deletes voices revoice made.

Recorded clones idle past the TTL and held by no running job are deleted; rows whose voice is gone
at sync. labs are dropped; revoice-named clones with no row (a crash between clone and record) are
adopted, or deleted once their name's timestamp is past the TTL. Built-in and foreign voices are
counted and left alone. A deletion that fails is reported and its row kept, for the next run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from revoice.pipeline.clock import stamp
from revoice.pipeline.ports import VoiceRegistry
from revoice.pipeline.voice import JobIsRunning, release_stale_holders
from revoice.pipeline.voices import VoiceRecord, clone_created_at
from revoice.sync.errors import SyncApiError, SyncError

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi


@dataclass
class CleanupReport:
    dry_run: bool
    ttl_hours: float
    started_at: str = field(default_factory=stamp)
    finished_at: str = ""
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    forgotten: list[dict[str, Any]] = field(default_factory=list)
    adopted: list[dict[str, Any]] = field(default_factory=list)
    not_ours: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "deleted": len(self.deleted),
            "kept": len(self.kept),
            "failed": len(self.failed),
            "forgotten": len(self.forgotten),
            "adopted": len(self.adopted),
            "notOurs": self.not_ours,
        }

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts()}


def sweep(
    *,
    sync: SyncApi,
    registry: VoiceRegistry,
    job_is_running: JobIsRunning,
    ttl_seconds: float,
    dry_run: bool,
    now: float | None = None,
) -> CleanupReport:
    current = time.time() if now is None else now
    report = CleanupReport(dry_run=dry_run, ttl_hours=round(ttl_seconds / 3600, 3))
    listed = {voice.id: voice for voice in sync.list_voices() if voice.id}  # only ids can be deleted
    records = {record.voice_id: record for record in registry.all()}
    for voice_id, record in records.items():
        entry = {"voiceId": voice_id, "name": record.name}
        if voice_id not in listed:
            report.forgotten.append(entry)
            if not dry_run:
                registry.forget(voice_id)
            continue
        _recorded(record, entry, report, registry, sync, job_is_running, ttl_seconds, current)
    for voice_id, voice in listed.items():
        if voice_id in records:
            continue
        created = clone_created_at(voice.name)
        entry = {"voiceId": voice_id, "name": str(voice.name)}
        if created is None:
            report.not_ours += 1
        elif current - created.timestamp() >= ttl_seconds:
            _delete(entry | {"why": "unrecorded revoice clone past the TTL"}, report, sync, None, dry_run)
        else:
            report.adopted.append(entry)
            if not dry_run:
                registry.record(
                    voice_id,
                    str(voice.name),
                    source_hash="",
                    source_key="",
                    job_id=None,
                    created_at=created.isoformat().replace("+00:00", "Z"),
                )
    report.finished_at = stamp()
    return report


def _recorded(
    record: VoiceRecord,
    entry: dict[str, Any],
    report: CleanupReport,
    registry: VoiceRegistry,
    sync: SyncApi,
    job_is_running: JobIsRunning,
    ttl_seconds: float,
    now: float,
) -> None:
    running = [job for job in record.holders if job_is_running(job)]
    if running:
        report.kept.append(entry | {"why": f"held by running job(s): {', '.join(sorted(running))}"})
        return
    if not report.dry_run:
        release_stale_holders(record, registry, job_is_running)
    idle = record.idle_for(now)
    if record.ephemeral or idle >= ttl_seconds:
        why = "ephemeral clone of a finished job" if record.ephemeral else f"idle {idle / 3600:.1f} h"
        _delete(entry | {"why": why}, report, sync, registry, report.dry_run)
    else:
        report.kept.append(entry | {"why": f"used {idle / 3600:.1f} h ago"})


def _delete(
    entry: dict[str, Any], report: CleanupReport, sync: SyncApi, registry: VoiceRegistry | None, dry_run: bool
) -> None:
    voice_id = entry["voiceId"]
    if dry_run:
        report.deleted.append(entry | {"dryRun": True})
        return
    if registry is not None and not registry.claim_for_deletion(voice_id):
        report.kept.append(entry | {"why": "a job took hold of it during the sweep"})
        return
    try:
        sync.delete_voice(voice_id)
    except SyncError as error:
        if not (isinstance(error, SyncApiError) and error.status_code == 404):
            if registry is not None:
                registry.unclaim(voice_id)
            report.failed.append(entry | {"error": f"{error.error_code}: {error}"})
            return
    if registry is not None:
        registry.forget(voice_id)
    report.deleted.append(entry | {"deletedAt": stamp()})
