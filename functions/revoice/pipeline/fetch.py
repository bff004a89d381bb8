"""The job's first step when its manifest names https URLs: copy them into the bucket, then check them.

``POST /jobs`` answers at once (the HTTP API cuts every request at 30 seconds, and a video can take
minutes to download), so the copy happens here, with the step's own retries and errors. Copies go to
``downloads/<job>/`` (expired by a lifecycle rule); the manifest then names them like any other key.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from revoice.pipeline import layout
from revoice.pipeline.ingest import check_sources
from revoice.pipeline.ports import JobRecords, ObjectStore
from revoice.pipeline.state import JobState

if TYPE_CHECKING:
    import httpx

    from revoice.pipeline.url_source import Resolver


def download_key(job_id: str, field: str, url: str) -> str:
    name = posixpath.basename(urlsplit(url).path) or f"{field}.mp4"
    if layout.suffix(name) not in layout.VIDEO_SUFFIXES:
        name += ".mp4"
    return f"{layout.DOWNLOADS}{job_id}/{field}-{name}"


def fetch_sources(
    state: JobState, *, store: ObjectStore, jobs: JobRecords, http: httpx.Client, resolver: Resolver | None = None
) -> JobState:
    from revoice.pipeline.url_source import copy_url, resolve  # only this step downloads

    jobs.entered(state.job.id, "fetch")
    manifest = state.manifest
    copies: dict[str, str] = {}
    for field in ("source", "target"):
        url = getattr(manifest, field)
        if url is None or not layout.is_url(url) or url in copies:
            continue
        key = download_key(state.job.id, field, url)
        copy_url(
            url, key, store=store, max_bytes=state.config.max_upload_bytes, client=http, resolver=resolver or resolve
        )
        copies[url] = key
    state.manifest = manifest.model_copy(
        update={f: copies[getattr(manifest, f)] for f in ("source", "target") if getattr(manifest, f) in copies}
    )
    check_sources(state.manifest, store, state.config.max_upload_bytes)
    state.needs_fetch = False
    return state
