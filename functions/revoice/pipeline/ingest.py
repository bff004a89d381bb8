"""What happens when an object lands in ``inbox/``: validate it, then start exactly one execution.

A rejected job gets ``failed/<job>/error.json`` and starts nothing. The same object version always
maps to the same job id, so a duplicated S3 event finds its execution already there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from revoice.pipeline import layout
from revoice.pipeline.clock import now, stamp
from revoice.pipeline.errors import JobInputError
from revoice.pipeline.history import polling
from revoice.pipeline.job_id import job_id_for
from revoice.pipeline.manifest import MAX_MANIFEST_BYTES, JobManifest, manifest_from_metadata, parse_manifest
from revoice.pipeline.ports import Executions, JobRecords, ObjectForbidden, ObjectInfo, ObjectStore
from revoice.pipeline.state import JobRef, JobState, RunConfig
from revoice.pipeline.video_check import SNIFF_BYTES, looks_like_video

if TYPE_CHECKING:
    from revoice.pipeline.url_source import Resolver


@dataclass(frozen=True)
class IngestOutcome:
    job_id: str | None
    status: Literal["started", "duplicate", "rejected", "ignored"]
    reason: str = ""
    error: dict[str, Any] | None = None  # a rejection's error.json


def ingest_object(
    key: str,
    version: str,
    *,
    store: ObjectStore,
    executions: Executions,
    jobs: JobRecords,
    config: RunConfig,
    campaigns: Executions | None = None,
    campaign_concurrency: int = 12,
    campaign_batch: bool = False,
) -> IngestOutcome:
    """Handle one created object (``key`` already URL-decoded; ``version`` its version id or ETag).

    A campaign file (``campaigns`` is its state machine) is named by its content, so the same file dropped
    again is the same campaign: only its lines that did not succeed run again."""
    kind = layout.inbox_kind(key)
    if kind == "folder":
        return IngestOutcome(None, "ignored", "folder marker")
    job_id = job_id_for(store.bucket, key, version)
    try:
        info = _head(store, key, "dropped object")  # once: a manifest is read once too, campaign or job
        if info is None:
            raise JobInputError("source_missing", f"{key} was deleted before it could be read")
        raw = store.first_bytes(key, MAX_MANIFEST_BYTES) if kind == "manifest" and info.size else b""
        if campaigns is not None and (kind == "campaign" or _has_lines(raw)):
            from revoice.pipeline.campaign_run import start_campaign  # only campaign files need it

            return start_campaign(
                key,
                version,
                info,
                store=store,
                executions=campaigns,
                jobs=jobs,
                config=config,
                max_concurrency=campaign_concurrency,
                batch=campaign_batch,
            )
        manifest = read_job(key, kind, info, raw)
        check_sources(manifest, store, config.max_upload_bytes)
        check_notify(manifest, config)
    except JobInputError as error:
        document = reject(job_id, key, error, store=store, jobs=jobs)
        return IngestOutcome(job_id, "rejected", str(error), document)
    job = JobRef(id=job_id, bucket=store.bucket, key=key, version=version, received_at=now())
    if start_job(job, manifest, config, executions=executions, jobs=jobs) is None:
        return IngestOutcome(job_id, "duplicate", "an execution for this object version already exists")
    return IngestOutcome(job_id, "started")


def job_config(config: RunConfig, manifest: JobManifest) -> RunConfig:
    """The stack's defaults, adjusted by what the manifest asks for."""
    update: dict[str, object] = {}
    if manifest.model:
        update["model"] = manifest.model
    poll_seconds = manifest.poll_seconds or config.poll_seconds
    update["poll_seconds"] = poll_seconds
    if manifest.timeout_seconds:
        update["poll_seconds"], update["max_generation_polls"] = polling(manifest.timeout_seconds, poll_seconds, config)
    if not manifest.callback:
        update["webhook_url"] = None
    return config.model_copy(update=update)


def start_job(
    job: JobRef,
    manifest: JobManifest,
    config: RunConfig,
    *,
    executions: Executions,
    jobs: JobRecords,
    request_hash: str | None = None,
) -> str | None:
    """Start the job's execution (named by its id); None when it already exists."""
    state = JobState(job=job, manifest=manifest, config=job_config(config, manifest), needs_fetch=fetches(manifest))
    arn = executions.start(job.id, state.wire())
    if arn is not None:
        jobs.accepted(job.id, job.key, manifest.source, arn, request_hash=request_hash, notify_url=manifest.notify_url)
    return arn


def _head(store: ObjectStore, key: str, what: str) -> ObjectInfo | None:
    try:
        return store.head(key)
    except ObjectForbidden as error:
        raise JobInputError(
            "source_access_denied",
            f"revoice may not read the {what} {key} (S3 answered 403 Forbidden): it belongs to another account, "
            "is encrypted with a KMS key revoice's role may not use, or a bucket policy denies it",
        ) from error


def _has_lines(raw: bytes) -> bool:
    """A JSON manifest with a ``lines`` list is a campaign (anything unreadable is left to the manifest's
    own reading, which says what is wrong with it)."""
    try:
        document = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and "lines" in document


def fetches(manifest: JobManifest) -> bool:
    return any(layout.is_url(key) for key in (manifest.source, manifest.target_key))


def read_job(key: str, kind: str, info: ObjectInfo, raw: bytes) -> JobManifest:
    """The job a dropped object asks for: its manifest (``raw``, its first bytes) or its metadata."""
    if kind == "manifest":
        if info.size > MAX_MANIFEST_BYTES:
            raise JobInputError("invalid_manifest", f"the manifest is {info.size} bytes; at most {MAX_MANIFEST_BYTES}")
        return parse_manifest(raw)
    if kind == "video":
        return manifest_from_metadata(key, info.metadata)
    raise JobInputError(
        "unsupported_file",
        f"{key} is neither a job manifest (.json) nor a video ({', '.join(layout.VIDEO_SUFFIXES)}, any case)",
    )


def check_sources(manifest: JobManifest, store: ObjectStore, max_bytes: int, resolver: Resolver | None = None) -> None:
    """Every video the job names in the bucket exists, is not empty, fits the plan, and is a video; every
    one it names by URL is a public https address (the job's first step copies it, then checks it)."""
    roles = {manifest.target_key: "target", manifest.source: "source"}
    for key, role in roles.items():
        if layout.is_url(key):
            from revoice.pipeline.url_source import check_url, resolve  # only URL sources need it

            check_url(key, resolver or resolve)
        else:
            checked_video(role, key, store, max_bytes)


def check_notify(manifest: JobManifest, config: RunConfig, resolver: Resolver | None = None) -> None:
    """The job's ``notify_url``, if any, is an address revoice may call (checked again at each delivery)."""
    if manifest.notify_url is not None:
        from revoice.pipeline.url_source import check_notify_url, resolve

        check_notify_url(manifest.notify_url, config.trusted_notify_hosts, resolver or resolve)


def checked_video(role: str, key: str, store: ObjectStore, max_bytes: int) -> ObjectInfo:
    if layout.suffix(key) not in layout.VIDEO_SUFFIXES:
        raise JobInputError(
            "unsupported_file", f"the {role} {key} must be a video ({', '.join(layout.VIDEO_SUFFIXES)})"
        )
    info = _head(store, key, f"{role} video")
    if info is None:
        raise JobInputError("source_missing", f"the {role} video {key} is not in the bucket")
    if info.size == 0:
        raise JobInputError("empty_source", f"the {role} video {key} is empty (0 bytes)")
    if info.size > max_bytes:
        raise JobInputError(
            "source_too_large", f"the {role} video {key} is {info.size} bytes; the limit is {max_bytes}"
        )
    if not looks_like_video(store.first_bytes(key, SNIFF_BYTES)):
        raise JobInputError("not_a_video", f"the {role} {key} is named like a video but is not one")
    return info


def reject(job_id: str, key: str, error: JobInputError, *, store: ObjectStore, jobs: JobRecords) -> dict[str, Any]:
    """Record the rejection in the job table, then in ``failed/<job>/error.json`` (what users read)."""
    error_key = layout.error_key(job_id)
    jobs.rejected(job_id, key, error.code, error.reason, error_key)
    document = {
        "jobId": job_id,
        "status": "REJECTED",
        "step": "ingest",
        "errorCode": error.code,
        "reason": error.reason,
        "trigger": key,
        "failedAt": stamp(),
    }
    store.put_json(error_key, document)
    return document
