"""Deterministic job ids: the same object version always gives the same id (and execution name).

A readable stem from the file name, then a digest of bucket, key and version (or ETag), within the
80 characters and ``[A-Za-z0-9_-]`` that Step Functions execution names and sync. labs
``Idempotency-Key`` both allow.
"""

from __future__ import annotations

import hashlib
import posixpath
import re

STEM_CHARS = 40
DIGEST_CHARS = 16


def job_id_for(bucket: str, key: str, version: str) -> str:
    stem = posixpath.splitext(posixpath.basename(key))[0]
    stem = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:STEM_CHARS].strip("-") or "job"
    digest = hashlib.sha256(f"{bucket}\0{key}\0{version}".encode()).hexdigest()[:DIGEST_CHARS]
    return f"{stem}-{digest}"


JOB_ID = rf"[a-z0-9-]{{1,{STEM_CHARS}}}-[0-9a-f]{{{DIGEST_CHARS}}}"
CAMPAIGN_LINE = r"--[a-z0-9](?:[a-z0-9_]|-(?!-)){0,19}"  # a campaign line's job: <campaign id>--<line name>


def is_job_id(value: str) -> bool:
    return bool(re.fullmatch(rf"{JOB_ID}(?:{CAMPAIGN_LINE})?", value))
