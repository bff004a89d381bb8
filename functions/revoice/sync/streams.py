"""A streamed httpx response as a file object, for readers that want ``read(n)`` (boto3 uploads)."""

from __future__ import annotations

import io
from typing import IO, Any

import httpx

CHUNK_BYTES = 1024 * 1024


class TooLarge(ValueError):
    """The body went past the reader's limit."""


class _ResponseStream(io.RawIOBase):
    def __init__(self, response: httpx.Response, limit: int | None) -> None:
        self._chunks = response.iter_bytes()
        self._pending = memoryview(b"")
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self.count += len(chunk)
            if self._limit is not None and self.count > self._limit:
                raise TooLarge(f"more than {self._limit} bytes")
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def reader(response: httpx.Response, limit: int | None = None) -> IO[bytes]:
    """Read ``response`` in chunks without holding it whole; past ``limit`` bytes, raise TooLarge."""
    return io.BufferedReader(_ResponseStream(response, limit), CHUNK_BYTES)
