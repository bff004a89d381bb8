"""Unit tests run with the network off: a test that opens a socket fails, naming the call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)  # asyncio's self-pipe is a Unix socket pair
    yield
    pytest_socket.enable_socket()
