"""The push step: the source and target videos streamed from S3 into sync. labs storage.

Safe to run twice (Step Functions retries it): each attempt uploads new assets, and only the last
one's ids go on.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import IO, TYPE_CHECKING, Any

from revoice.pipeline import layout
from revoice.pipeline.clock import now
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import from_sync
from revoice.pipeline.ingest import checked_video
from revoice.pipeline.ports import JobRecords, ObjectStore
from revoice.pipeline.state import Assets, JobState, PushedVideo
from revoice.sync.errors import SyncError

if TYPE_CHECKING:
    from revoice.pipeline.ports import SyncApi


def push_media(state: JobState, *, store: ObjectStore, sync: SyncApi, jobs: JobRecords) -> JobState:
    """Stream the source and target from S3 into sync. labs storage (once when they are the same).

    The source is hashed on its way through, so a later job can recognise the same audio and reuse
    its clone whatever the object is called.
    """
    if state.assets is not None:  # a campaign line: its campaign pushed the videos once for every line
        return state
    jobs.entered(state.job.id, Step.PUSH)
    started = now()
    pushed: dict[str, PushedVideo] = {}
    for role, key in (("source", state.manifest.source), ("target", state.manifest.target_key)):
        if key not in pushed:
            pushed[key] = push_video(
                key, role, f"{state.job.id}-{role}", store=store, sync=sync, max_bytes=state.config.max_upload_bytes
            )
    state.assets = Assets(
        source=pushed[state.manifest.source],
        target=pushed[state.manifest.target_key],
        started_at=started,
        finished_at=now(),
    )
    return state


def push_video(key: str, role: str, name: str, *, store: ObjectStore, sync: SyncApi, max_bytes: int) -> PushedVideo:
    """One video streamed from S3 into sync. labs storage, hashed on its way through."""
    info = checked_video(role, key, store, max_bytes)
    hashed = _HashingOpener(store, key)
    try:
        asset = sync.upload(
            hashed,
            size=info.size,
            file_name=posixpath.basename(key),
            content_type=layout.content_type(key),
            asset_type="VIDEO",
            name=name,
        )
    except SyncError as error:
        raise from_sync(error, f"uploading the {role} video {key}") from error
    return PushedVideo(
        key=key,
        size=info.size,
        etag=info.etag,
        asset_id=asset.id,
        url=asset.url or "",
        duration_seconds=asset.duration_seconds,
        sha256=hashed.hexdigest(),
    )


class _HashingOpener:
    """Opens the object for each upload attempt and hashes what the last attempt read."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store, self._key = store, key
        self._digest = hashlib.sha256()

    def __call__(self) -> IO[bytes]:
        self._digest = hashlib.sha256()
        return _Hashing(self._store.open(self._key), self._digest)  # type: ignore[return-value]

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _Hashing:
    def __init__(self, stream: IO[bytes], digest: Any) -> None:
        self._stream, self._digest = stream, digest

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        return chunk

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.close()
