"""Unit tests run with the network off: a test that opens a socket fails, naming the call. Handler tests
share the sample events, a LambdaContext, and a world of in-memory ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_socket

from tests.conftest import Samples
from tests.fakes import World
from tests.handler_modules import import_handler_module

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOURCE = "media/speaker.mp4"


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)  # asyncio's self-pipe is a Unix socket pair
    yield
    pytest_socket.enable_socket()


class Context:
    """The LambdaContext fields Powertools' logger reads."""

    function_name = "revoice-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:revoice-test"
    aws_request_id = "c0ffee00-0000-4000-8000-000000000000"


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.fixture
def world(samples: Samples) -> World:
    world = World()
    world.bucket.put(SOURCE, samples.video.read_bytes())
    world.bucket.put("media/presenter.mp4", samples.video.read_bytes())
    return world


def handler(function: str, world: World, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = import_handler_module(function, monkeypatch)
    world.wire(module, monkeypatch)
    return module


def invoke(function: str, payload: dict[str, Any], world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    return handler(function, world, monkeypatch).handler(payload, Context())
