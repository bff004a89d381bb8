"""Jobs over HTTP: start one from a manifest (sources as bucket keys or https URLs), or report one.

A retried ``POST /jobs`` with the same ``Idempotency-Key`` and body returns the same job; the same key
with another body is a conflict. Bad input starts nothing and is answered with the field at fault.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from revoice.pipeline import layout
from revoice.pipeline.errors import JobInputError
from revoice.pipeline.ingest import check_sources, start_job
from revoice.pipeline.job_id import job_id_for
from revoice.pipeline.manifest import JobManifest, validate_manifest
from revoice.pipeline.state import JobRef, RunConfig, utcnow
from revoice.pipeline.stores import Executions, JobTable, ObjectStore
from revoice.sync.models import IDEMPOTENCY_KEY

if TYPE_CHECKING:
    import httpx

    from revoice.pipeline.url_source import Resolver


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


@dataclass(frozen=True)
class Submitted:
    job_id: str
    created: bool


def submit_job(
    body: dict[str, Any],
    idempotency_key: str | None,
    *,
    store: ObjectStore,
    executions: Executions,
    jobs: JobTable,
    config: RunConfig,
    http: httpx.Client,
    resolver: Resolver | None = None,
) -> Submitted:
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise JobInputError("invalid_idempotency_key", "Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-]")
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    name = str(body.get("output_name") or "api-job") if isinstance(body, dict) else "api-job"
    seed = f"key:{idempotency_key}" if idempotency_key else f"request:{uuid.uuid4()}"
    job_id = job_id_for(store.bucket, f"api/{name}", seed)
    earlier = jobs.get(job_id)
    if earlier is not None:
        if earlier.get("requestHash") != request_hash:
            raise IdempotencyConflict(f"Idempotency-Key {idempotency_key} was used with a different body")
        return Submitted(job_id, created=False)
    manifest = validate_manifest(body)
    manifest = _fetch_url_sources(manifest, job_id, store=store, config=config, http=http, resolver=resolver)
    check_sources(manifest, store, config.max_upload_bytes)
    job = JobRef(
        id=job_id, bucket=store.bucket, key=f"api/{job_id}", version=request_hash, trigger="http", received_at=utcnow()
    )
    started = start_job(job, manifest, config, executions=executions, jobs=jobs, request_hash=request_hash)
    return Submitted(job_id, created=started is not None)


def _fetch_url_sources(
    manifest: JobManifest,
    job_id: str,
    *,
    store: ObjectStore,
    config: RunConfig,
    http: httpx.Client,
    resolver: Resolver | None,
) -> JobManifest:
    """Copy https sources into ``downloads/<job>/`` (expired by a lifecycle rule) and point the manifest at
    the copies."""
    copies: dict[str, str] = {}
    for field in ("source", "target"):
        url = getattr(manifest, field)
        if url is None or not _is_url(url) or url in copies:
            continue
        name = posixpath.basename(urlsplit(url).path) or f"{field}.mp4"
        if layout.suffix(name) not in layout.VIDEO_SUFFIXES:
            name += ".mp4"
        key = f"{layout.DOWNLOADS}{job_id}/{field}-{name}"
        from revoice.pipeline.url_source import copy_url, resolve  # only jobs with URL sources need httpx

        copy_url(url, key, store=store, max_bytes=config.max_upload_bytes, client=http, resolver=resolver or resolve)
        copies[url] = key
    if not copies:
        return manifest
    update = {f: copies[getattr(manifest, f)] for f in ("source", "target") if getattr(manifest, f) in copies}
    return manifest.model_copy(update=update)


def _is_url(value: str) -> bool:
    return "://" in value


def describe_job(job_id: str, *, jobs: JobTable, store: ObjectStore) -> dict[str, Any] | None:
    """What ``GET /jobs/{id}`` answers: status, current step, timings, result keys or failure reason."""
    record = jobs.get(job_id)
    if record is None:
        return None
    answer: dict[str, Any] = {
        key: record.get(key)
        for key in ("status", "step", "startedAt", "updatedAt", "finishedAt", "source", "triggerKey")
    }
    answer = {"jobId": job_id, **{k: v for k, v in answer.items() if v is not None}}
    if record.get("status") == "SUCCEEDED":
        result = store.read_json(layout.result_key(job_id)) or {}
        answer.update(resultKey=layout.result_key(job_id), outputs=result.get("outputs"), timings=result.get("timings"))
    elif record.get("status") in ("FAILED", "REJECTED"):
        answer.update(errorCode=record.get("errorCode"), reason=record.get("reason"), errorKey=record.get("errorKey"))
    return answer
