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
import re
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from revoice.pipeline import layout
from revoice.pipeline.advice import advice_for
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


DESCRIBED = ("status", "step", "syncStatus", "voiceId", "startedAt", "updatedAt", "finishedAt", "source", "triggerKey")
UPLOADS = "uploads/"  # where the console's browser uploads go (never inbox/: they start nothing by themselves)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


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


API_CAMPAIGNS = "api/campaigns/"  # a campaign sent to POST /jobs, kept as the file it would have been


class CampaignRefused(Exception):
    """A campaign sent to ``POST /jobs`` that starts nothing: its code, reason and every problem by line."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document.get("reason"))
        self.document = document


def submit_campaign(
    body: dict[str, Any],
    idempotency_key: str | None,
    *,
    store: ObjectStore,
    campaigns: Executions,
    jobs: JobRecords,
    config: RunConfig,
    max_concurrency: int,
    batch: bool,
) -> Submitted:
    """``POST /jobs`` with ``lines``: the campaign checked whole (a bad one is refused with every problem by
    line, nothing kept), kept in the bucket as the JSON manifest it would have been in ``inbox/``, and
    started as one dropped there is. A retry with the same Idempotency-Key and body answers the same
    campaign; the same key with another body is a conflict."""
    from revoice.pipeline.campaign import CampaignInvalid, read_campaign  # only campaigns need them
    from revoice.pipeline.campaign_run import start_campaign

    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise JobInputError("invalid_idempotency_key", "Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-]")
    raw = json.dumps(body, sort_keys=True).encode()
    try:
        read_campaign(raw, "json", {})
    except CampaignInvalid as invalid:
        raise CampaignRefused(
            {"errorCode": invalid.code, "reason": invalid.reason, "problems": invalid.problems}
        ) from None
    seed = f"key:{idempotency_key}" if idempotency_key else f"request:{uuid.uuid4()}"
    key = f"{API_CAMPAIGNS}{hashlib.sha256(seed.encode()).hexdigest()[:32]}.json"
    earlier = store.read_json(key)
    if earlier is not None and earlier != body:
        raise IdempotencyConflict(f"Idempotency-Key {idempotency_key} was used with a different body")
    if earlier is None:
        store.put_json(key, body)
    info = store.head(key)
    assert info is not None
    campaign_id = job_id_for(store.bucket, key, info.etag)
    if earlier is not None and jobs.get(campaign_id) is not None:
        return Submitted(campaign_id, created=False)
    outcome = start_campaign(
        key,
        info.etag,
        info,
        store=store,
        executions=campaigns,
        jobs=jobs,
        config=config,
        max_concurrency=max_concurrency,
        batch=batch,
    )
    if outcome.status == "rejected":
        raise CampaignRefused(outcome.error or {"errorCode": "invalid_campaign", "reason": outcome.reason})
    return Submitted(campaign_id, created=outcome.status == "started")


def describe_job(
    job_id: str, *, jobs: JobRecords, store: ObjectStore, link_seconds: int | None = None
) -> dict[str, Any] | None:
    """What ``GET /jobs/{id}`` answers: status, current step, timings, result keys (and, with
    ``link_seconds``, download links valid that long) or failure reason; how its notification went."""
    record = jobs.get(job_id)
    if record is None:
        return None
    answer: dict[str, Any] = {key: record.get(key) for key in DESCRIBED}
    answer = {"jobId": job_id, **{k: v for k, v in answer.items() if v is not None}}
    if record.get("status") == "SUCCEEDED":
        result = store.read_json(layout.result_key(job_id)) or {}
        answer.update(
            resultKey=layout.result_key(job_id),
            outputs=result.get("outputs"),
            timings=result.get("timings"),
            facts=_facts(result),
        )
        if link_seconds:
            inputs = result.get("inputs") or {}
            keys = {
                **(result.get("outputs") or {}),
                "result": layout.result_key(job_id),
                "source": inputs.get("source"),
                "target": inputs.get("target") if inputs.get("target") != inputs.get("source") else None,
            }
            answer["links"] = {name: store.presign(key, link_seconds) for name, key in keys.items() if key}
            answer["linksExpireInSeconds"] = link_seconds
    elif record.get("status") in ("FAILED", "REJECTED"):
        answer.update(errorCode=record.get("errorCode"), reason=record.get("reason"), errorKey=record.get("errorKey"))
        answer["whatToDo"] = advice_for(record.get("errorCode"))
    elif link_seconds and record.get("source") and not layout.is_url(str(record["source"])):
        answer["links"] = {"source": store.presign(str(record["source"]), link_seconds)}  # to watch while it runs
        answer["linksExpireInSeconds"] = link_seconds
    if record.get("kind") == "campaign":
        from revoice.pipeline.campaign_run import progress  # only a campaign's answer needs it

        answer["campaign"] = progress(job_id, store=store, jobs=jobs)
        if link_seconds and record.get("status") in ("SUCCEEDED", "FAILED"):
            answer["links"] = {
                name: store.presign(answer["campaign"][name], link_seconds)
                for name in ("report", "summary")
                if store.exists(answer["campaign"][name])
            }
    if "notification" in record:
        answer["notification"] = record["notification"]
    return answer


def _facts(result: dict[str, Any]) -> dict[str, Any]:
    """What a person judging the result wants beside it: the voice, the model, the lengths."""
    inputs, voice = result.get("inputs") or {}, result.get("voice") or {}
    generation, tts = result.get("generation") or {}, result.get("tts") or {}
    facts = {
        "voiceId": voice.get("id"),
        "voiceName": voice.get("name"),
        "voiceCloned": voice.get("cloned"),
        "speech": inputs.get("speech"),
        "model": generation.get("model") or inputs.get("model"),
        "syncMode": inputs.get("syncMode"),
        "scriptCharacters": inputs.get("scriptCharacters"),
        "speechSeconds": tts.get("duration"),
        "outputSeconds": generation.get("outputDuration"),
        "generationId": generation.get("id"),
        "totalSeconds": (result.get("timings") or {}).get("total"),
    }
    return {k: v for k, v in facts.items() if v is not None}


def recent_jobs(jobs: JobRecords, limit: int) -> list[dict[str, Any]]:
    """The latest jobs, newest first, as the console lists them."""
    shown = ("status", "step", "source", "triggerKey", "errorCode", "startedAt", "finishedAt", "listedAt")
    return [
        {"jobId": record["jobId"], **{k: record[k] for k in shown if record.get(k) is not None}}
        for record in jobs.recent(limit)
    ]


def upload_form(filename: str, size: int, *, store: ObjectStore, max_bytes: int, seconds: int) -> dict[str, Any]:
    """Where and how a browser uploads a source video straight to the bucket (a presigned POST); the
    key it gets is the job's ``source``. Refused here when the file is plainly unusable."""
    name = SAFE_NAME.sub("-", PurePosixPath(filename).name).strip("-.")[:80] or "video.mp4"
    if layout.suffix(name) not in layout.VIDEO_SUFFIXES:
        raise JobInputError("unsupported_file", f"{filename} is not a video ({', '.join(layout.VIDEO_SUFFIXES)})")
    if size <= 0:
        raise JobInputError("empty_source", f"{filename} is empty")
    if size > max_bytes:
        raise JobInputError("source_too_large", f"{filename} is {size} bytes; the stack takes at most {max_bytes}")
    key = f"{UPLOADS}{uuid.uuid4().hex[:16]}/{name}"
    return {"key": key, "expiresInSeconds": seconds, **store.presign_upload(key, size, seconds)}
