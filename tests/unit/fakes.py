"""In-memory stand-ins for the pipeline's ports, for tests that must not open sockets."""

from __future__ import annotations

from typing import IO

from revoice.pipeline.stores import ObjectInfo


class MemoryBucket:
    """The jobs bucket, in memory: what the steps that copy and check objects use of ``ObjectStore``."""

    bucket = "jobs"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        self.objects[key] = stream.read()

    def head(self, key: str) -> ObjectInfo | None:
        body = self.objects.get(key)
        return None if body is None else ObjectInfo(key, len(body), "etag", None, {})

    def first_bytes(self, key: str, count: int) -> bytes:
        return self.objects[key][:count]
