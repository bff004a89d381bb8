"""Shared fixtures: sample media made once per run, emulators on loopback, clients pointed at them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from revoice.sync import SyncClient
from revoice.sync.models import Asset
from revoice.sync.retry import RetryPolicy
from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.emulator.server import EmulatorServer
from tests.summary import SummaryTables

# Property tests check behaviour, not speed: on a shared, loaded machine timing checks only flake.
settings.register_profile("revoice", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("revoice")

SUMMARY = SummaryTables()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SUMMARY.collect(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for table in SUMMARY.tables:
        terminalreporter.section(table)
        for line in SUMMARY.lines(table):
            terminalreporter.write_line(line)


FAST = {"time_scale": 0.01, "clone_seconds": 0.5}
SAMPLE_SCRIPT = "Hello, this is the speaker. These words are here so that there is a voice to clone."


@dataclass(frozen=True)
class Samples:
    video: Path
    audio: Path
    silent_video: Path
    text_as_mp4: Path
    empty: Path


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    root = tmp_path_factory.mktemp("samples")
    video = root / "talking-head.mp4"
    media.make_talking_head(video, SAMPLE_SCRIPT)
    audio = root / "line.wav"
    media.write_wav(audio, media.synthesize_speech("A new line to lay over the video.", "narrator"))
    silent = root / "silent.mp4"
    media.make_talking_head(silent, "x")
    text = root / "notes.mp4"
    text.write_text("this is not a video at all\n" * 20)
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    return Samples(video, audio, silent, text, empty)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    servers: list[EmulatorServer] = []

    def make(**overrides: Any) -> EmulatorServer:
        server = EmulatorServer(EmulatorConfig.model_validate({**FAST, **overrides})).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_factory()


QUICK_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=0.05, deadline=10)
PATIENT_RETRY = RetryPolicy(max_attempts=400, base_delay=0.01, max_delay=0.05, max_retry_after=0.05, deadline=60)


def fast_client(server: EmulatorServer, **kwargs: Any) -> SyncClient:
    """A client for the emulator whose retries sleep milliseconds instead of seconds."""
    retry = kwargs.pop("retry", QUICK_RETRY)
    return SyncClient(server.config.api_key, base_url=server.url, retry=retry, **kwargs)


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[SyncClient]:
    with fast_client(emulator) as sync:
        yield sync


def upload(client: SyncClient, path: Path, content_type: str = "video/mp4", kind: str = "VIDEO") -> Asset:
    return client.upload_file(str(path), content_type=content_type, asset_type=kind)  # type: ignore[arg-type]


@dataclass
class Receiver:
    """A loopback HTTP endpoint that records what is POSTed to it (webhook deliveries)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    files: dict[str, bytes] = field(default_factory=dict)  # what GET answers, by path (a public media host)
    answers: list[int] = field(default_factory=list)  # the statuses POSTs get, in order (then 204)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = box[0].files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver = box[0]
            status = receiver.answers.pop(0) if receiver.answers else 204
            receiver.received.append(
                {"headers": dict(self.headers.items()), "body": body, "json": json.loads(body), "status": status}
            )
            if status < 300:
                receiver.arrived.set()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()
