"""Jobs over HTTP: start one from a manifest (sources as bucket keys or https URLs), or report one.

A retried ``POST /jobs`` with the same ``Idempotency-Key`` and body returns the same job; the same key
with another body is a conflict. The key is claimed (one conditional write) before anything else is
done, so two concurrent requests with one key start one job at most; the job's row is the idempotency
record (why not Powertools Idempotency: docs/http-api.md). Bad input starts nothing and is answered with
the field at fault.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revoice.pipeline import layout
from revoice.pipeline.clock import now
from revoice.pipeline.errors import JobInputError
from revoice.pipeline.ingest import check_notify, check_sources, start_job
from revoice.pipeline.job_id import job_id_for
from revoice.pipeline.manifest import validate_manifest
from revoice.pipeline.ports import Executions, JobRecords, ObjectStore
from revoice.pipeline.state import JobRef, RunConfig
from revoice.sync.models import IDEMPOTENCY_KEY

if TYPE_CHECKING:
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
    jobs: JobRecords,
    config: RunConfig,
    resolver: Resolver | None = None,
) -> Submitted:
    """Check the request, claim its job id, start the job; answers in well under the HTTP API's 30 s.

    Bad input starts and records nothing. Sources named by https URL are checked here (no private or
    metadata addresses) and copied by the job's first step, not during the request.
    """
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise JobInputError("invalid_idempotency_key", "Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-]")
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    name = str(body.get("output_name") or "api-job") if isinstance(body, dict) else "api-job"
    seed = f"key:{idempotency_key}" if idempotency_key else f"request:{uuid.uuid4()}"
    job_id = job_id_for(store.bucket, f"api/{name}", seed)
    manifest = validate_manifest(body)
    check_sources(manifest, store, config.max_upload_bytes, resolver)
    check_notify(manifest, config, resolver)
    if not jobs.claimed(job_id, f"api/{job_id}", request_hash):
        earlier = jobs.get(job_id) or {}
        if earlier.get("requestHash") != request_hash:
            raise IdempotencyConflict(f"Idempotency-Key {idempotency_key} was used with a different body")
        if earlier.get("status") != "ACCEPTED":
            return Submitted(job_id, created=False)
        # claimed, but the request that claimed it stopped before starting the job: start it now
    job = JobRef(
        id=job_id, bucket=store.bucket, key=f"api/{job_id}", version=request_hash, trigger="http", received_at=now()
    )
    started = start_job(job, manifest, config, executions=executions, jobs=jobs, request_hash=request_hash)
    return Submitted(job_id, created=started is not None)


def describe_job(
    job_id: str, *, jobs: JobRecords, store: ObjectStore, link_seconds: int | None = None
) -> dict[str, Any] | None:
    """What ``GET /jobs/{id}`` answers: status, current step, timings, result keys (and, with
    ``link_seconds``, download links valid that long) or failure reason; how its notification went."""
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
        if link_seconds:
            keys = {**(result.get("outputs") or {}), "result": layout.result_key(job_id)}
            answer["links"] = {name: store.presign(key, link_seconds) for name, key in keys.items() if key}
            answer["linksExpireInSeconds"] = link_seconds
    elif record.get("status") in ("FAILED", "REJECTED"):
        answer.update(errorCode=record.get("errorCode"), reason=record.get("reason"), errorKey=record.get("errorKey"))
    if "notification" in record:
        answer["notification"] = record["notification"]
    return answer
