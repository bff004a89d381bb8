"""``revoice submit``, ``revoice status`` and ``revoice results``: jobs from a terminal.

A job is submitted the way any user submits one: videos into the bucket, a manifest into ``inbox/``.
The job id is the one the ingest handler derives from the manifest's version (or its ETag, where the
event carries no version), so the command can follow the job it started.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from revoice.aws.tables import scan_all
from revoice.pipeline import layout
from revoice.pipeline.contract import describe_step
from revoice.pipeline.job_id import job_id_for
from revoice.pipeline.manifest import validate_manifest
from revoice_local.tables import format_table
from revoice_local.target import Target

ENDED = ("SUCCEEDED", "FAILED", "REJECTED")


class JobNotFound(Exception):
    pass


@dataclass(frozen=True)
class Submitted:
    job_ids: tuple[str, ...]  # the id from the version, and the one from the ETag: ingest uses whichever it sees
    manifest_key: str


def video_key(target: Target, value: str, role: str) -> str:
    """A local file is uploaded under media/; anything else must already be a key in the bucket."""
    path = Path(value).expanduser()
    s3 = target.client("s3")
    if path.is_file():
        if layout.suffix(path.name) not in layout.VIDEO_SUFFIXES:
            raise ValueError(f"the {role} {value} is not a video ({', '.join(layout.VIDEO_SUFFIXES)})")
        key = f"media/{uuid.uuid4().hex[:12]}/{path.name}"
        s3.upload_file(str(path), target.bucket, key, ExtraArgs={"ContentType": layout.content_type(key)})
        return key
    try:
        s3.head_object(Bucket=target.bucket, Key=value)
    except Exception as exc:
        raise ValueError(f"the {role} {value} is neither a local file nor a key in s3://{target.bucket}") from exc
    return value


def submit(target: Target, source: str, fields: dict[str, Any]) -> Submitted:
    manifest: dict[str, Any] = {"source": video_key(target, source, "source"), **fields}
    if manifest.get("target"):
        manifest["target"] = video_key(target, str(manifest["target"]), "target")
    validate_manifest(manifest)  # the same checks the stack makes, before anything lands in inbox/
    name = Path(source).stem or "job"
    key = f"inbox/{name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}.json"
    answer = target.client("s3").put_object(
        Bucket=target.bucket, Key=key, Body=json.dumps(manifest).encode(), ContentType="application/json"
    )
    candidates = [answer.get("VersionId"), answer["ETag"].strip('"')]
    return Submitted(tuple(job_id_for(target.bucket, key, v) for v in candidates if v), key)


def job_record(target: Target, job_ids: tuple[str, ...]) -> dict[str, Any] | None:
    table = target.table(target.jobs_table)
    for job_id in job_ids:
        item = table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        if item:
            return dict(item)
    return None


def accepted_job_id(target: Target, job_ids: tuple[str, ...], within: float = 60) -> str:
    """The id the stack actually gave the job (it appears in the jobs table once ingested)."""
    deadline = time.monotonic() + within
    while (record := job_record(target, job_ids)) is None:
        if time.monotonic() > deadline:
            raise JobNotFound(f"no job {job_ids[0]} appeared: is the stack's S3 notification working?")
        time.sleep(0.1)
    return str(record["jobId"])


def follow(
    target: Target,
    job_ids: tuple[str, ...],
    show: Callable[[str], None],
    timeout: float = 3600,
    appear_within: float = 60,
) -> dict[str, Any]:
    """Print each step as it happens; return the job's final record."""
    started = time.monotonic()
    shown = None
    while True:
        record = job_record(target, job_ids)
        elapsed = time.monotonic() - started
        if record is None:
            if elapsed > appear_within:
                raise JobNotFound(f"no job {job_ids[0]} appeared: is the stack's S3 notification working?")
        else:
            line = describe_step(str(record.get("step")))
            if record.get("syncStatus") and record.get("step") in ("speech", "lipsync"):
                line += f" (sync. labs: {record['syncStatus']})"
            if line != shown:
                show(f"  {elapsed:6.1f}s  {line}")
                shown = line
            if record.get("status") in ENDED:
                return record
        if elapsed > timeout:
            raise TimeoutError(
                f"job {record.get('jobId') if record else job_ids[0]} still running after {timeout:.0f}s"
            )
        time.sleep(0.25)


def recent(target: Target, limit: int = 20) -> list[dict[str, Any]]:
    items = scan_all(target.table(target.jobs_table))
    items.sort(key=lambda item: str(item.get("startedAt") or item.get("updatedAt") or ""), reverse=True)
    return [
        {k: item.get(k) for k in ("jobId", "status", "step", "startedAt", "finishedAt", "source", "errorCode")}
        for item in items[:limit]
    ]


def download_results(target: Target, job_id: str, to: Path) -> list[Path]:
    s3 = target.client("s3")
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=layout.result_prefix(job_id)).get("Contents", [])
    if not listed:
        raise JobNotFound(f"no results for job {job_id} (yet): see `revoice status {job_id}`")
    to.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in listed:
        path = to / item["Key"].rsplit("/", 1)[-1]
        s3.download_file(target.bucket, item["Key"], str(path))
        paths.append(path)
    return sorted(paths)


def result_links(target: Target, job_id: str, seconds: int) -> dict[str, str]:
    """Download links (presigned with the caller's own credentials) for each of the job's results."""
    from botocore.config import Config

    s3 = boto3.client("s3", config=Config(signature_version="s3v4"), **target.options())
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=layout.result_prefix(job_id)).get("Contents", [])
    if not listed:
        raise JobNotFound(f"no results for job {job_id} (yet): see `revoice status {job_id}`")
    return {
        item["Key"].rsplit("/", 1)[-1]: s3.generate_presigned_url(
            "get_object", Params={"Bucket": target.bucket, "Key": item["Key"]}, ExpiresIn=seconds
        )
        for item in listed
    }


def error_document(target: Target, job_id: str) -> dict[str, Any] | None:
    try:
        body = target.client("s3").get_object(Bucket=target.bucket, Key=layout.error_key(job_id))["Body"].read()
    except Exception:
        return None
    return dict(json.loads(body))


def status_table(rows: list[dict[str, Any]]) -> str:
    return format_table(
        ["JOB", "STATUS", "STEP", "STARTED", "SOURCE"],
        [
            [
                str(r.get("jobId")),
                str(r.get("status")),
                str(r.get("step")),
                str(r.get("startedAt") or "-"),
                str(r.get("source") or "-"),
            ]
            for r in rows
        ],
    )
