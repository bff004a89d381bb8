"""The hostile-input corpus at the S3 door: whatever lands in the inbox, the answer is
``failed/<job>/error.json`` (and the job table) with a specific code and reason, no execution, and nothing
stored is lost. Run through the ingest handler on in-memory ports, fed the S3 sample event."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from revoice.pipeline.manifest import MAX_MANIFEST_BYTES
from tests.conftest import Samples
from tests.fakes import World
from tests.handler_modules import import_handler_module
from tests.unit.conftest import Context, event

LINE = "A new line."
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
MAX_UPLOAD_BYTES = 3 * 1024 * 1024


class Inbox:
    """What a user can put in the bucket, and the ingest handler that S3 tells of it."""

    prefix = "hostile"

    def __init__(self, world: World, video: Path, ingest: Any) -> None:
        self.world, self._video, self._ingest = world, video, ingest

    def put_bytes(self, key: str, body: bytes, **metadata: str) -> str:
        self.world.bucket.put(key, body, **metadata)
        return key

    def put_video(self, name: str = "speaker", key: str | None = None, **metadata: str) -> str:
        return self.put_bytes(key or f"media/{self.prefix}/{name}.mp4", self._video.read_bytes(), **metadata)

    def drop_manifest(self, manifest: dict[str, Any] | bytes, name: str = "job") -> str:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.put_bytes(f"inbox/{self.prefix}-{name}.json", body)

    def tell(self, key: str) -> dict[str, Any]:
        """The S3 event for ``key``, through the ingest handler; its one outcome."""
        notification = event("s3-manifest-put.json")
        record = notification["Records"][0]["s3"]
        body = self.world.bucket.objects[key]  # what S3's event says, whoever may read the object
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        record["bucket"]["name"] = self.world.bucket.bucket
        record["object"].update(key=key.replace(" ", "+"), eTag=etag, size=len(body))
        record["object"].pop("versionId", None)
        [outcome] = self._ingest.handler(notification, Context())["jobs"]
        return dict(outcome)


@pytest.fixture
def inbox(samples: Samples, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    world = World()
    ingest = import_handler_module("IngestFunction", monkeypatch, MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES))
    world.wire(ingest, monkeypatch)
    return Inbox(world, samples.video, ingest)


def _manifest(inbox: Inbox, **fields: object) -> str:
    return inbox.drop_manifest({"source": inbox.put_video("speaker"), "script": LINE, **fields})


def _raw(inbox: Inbox, body: bytes) -> str:
    return inbox.drop_manifest(body)


S3_REJECTED: dict[str, tuple[Callable[[Inbox], str], str, str]] = {
    "invalid JSON": (lambda j: _raw(j, b'{"source": "x.mp4", "script": '), "invalid_manifest", "not valid JSON"),
    "not UTF-8": (lambda j: _raw(j, b'{"source": "\xff\xfe.mp4"}'), "invalid_manifest", "not valid JSON"),
    "not an object": (lambda j: _raw(j, b'["x.mp4"]'), "invalid_manifest", "JSON object"),
    "empty manifest": (lambda j: _raw(j, b""), "invalid_manifest", "empty"),
    "nested 50,000 deep": (lambda j: _raw(j, b"[" * 50_000), "invalid_manifest", "nested too deeply"),
    "huge manifest": (
        lambda j: _raw(j, json.dumps({"source": "a.mp4", "script": LINE, "pad": "x" * MAX_MANIFEST_BYTES}).encode()),
        "invalid_manifest",
        f"at most {MAX_MANIFEST_BYTES}",
    ),
    "unknown field": (lambda j: _manifest(j, colour="blue"), "invalid_manifest", "unknown field 'colour'"),
    "wrong type (number as text)": (lambda j: _manifest(j, poll_seconds="often"), "invalid_manifest", "'poll_seconds'"),
    "wrong type (script is a number)": (lambda j: _manifest(j, script=42), "invalid_manifest", "'script'"),
    "wrong type (source is a list)": (
        lambda j: j.drop_manifest({"source": ["a.mp4"], "script": LINE}),
        "invalid_manifest",
        "'source'",
    ),
    "NaN stability": (
        lambda j: _raw(j, b'{"source": "a.mp4", "script": "hi", "stability": NaN}'),
        "invalid_manifest",
        "'stability'",
    ),
    "negative timeout": (lambda j: _manifest(j, timeout_seconds=-1), "invalid_manifest", "'timeout_seconds'"),
    "unknown sync_mode": (lambda j: _manifest(j, sync_mode="wobble"), "invalid_manifest", "'sync_mode'"),
    "output name with a path": (lambda j: _manifest(j, output_name="../../x"), "invalid_manifest", "'output_name'"),
    "0-character script": (lambda j: _manifest(j, script=""), "invalid_manifest", "the script is empty"),
    "blank script": (lambda j: _manifest(j, script="   "), "invalid_manifest", "the script is empty"),
    "5001-character script": (lambda j: _manifest(j, script="a" * 5001), "invalid_manifest", "at most 5000"),
    "control characters": (lambda j: _manifest(j, script="hi\x07there"), "invalid_manifest", "control characters"),
    "a NUL in the script": (lambda j: _manifest(j, script="hi\x00there"), "invalid_manifest", "control characters"),
    "missing source field": (lambda j: j.drop_manifest({"script": LINE}), "invalid_manifest", "'source' is required"),
    "source not in bucket": (
        lambda j: j.drop_manifest({"source": "media/nope.mp4", "script": LINE}),
        "source_missing",
        "not in the bucket",
    ),
    "path traversal in a source": (lambda j: _manifest(j, target="media/../secret.mp4"), "invalid_manifest", "'..'"),
    "unsupported suffix in inbox": (
        lambda j: j.put_bytes(f"inbox/{j.prefix}-notes.txt", b"hello"),
        "unsupported_file",
        "neither a job manifest",
    ),
    "source is not a video suffix": (
        lambda j: j.drop_manifest({"source": j.put_bytes(f"media/{j.prefix}.txt", b"x"), "script": LINE}),
        "unsupported_file",
        "must be a video",
    ),
    "0-byte source": (
        lambda j: j.drop_manifest({"source": j.put_bytes(f"media/{j.prefix}-empty.mp4", b""), "script": LINE}),
        "empty_source",
        "0 bytes",
    ),
    "text named .mp4": (
        lambda j: j.drop_manifest(
            {"source": j.put_bytes(f"media/{j.prefix}-fake.mp4", b"hello " * 99), "script": LINE}
        ),
        "not_a_video",
        "not one",
    ),
    "too large for the plan": (
        lambda j: j.drop_manifest(
            {"source": j.put_bytes(f"media/{j.prefix}-big.mp4", MP4_HEAD + b"\0" * MAX_UPLOAD_BYTES), "script": LINE}
        ),
        "source_too_large",
        "the limit is",
    ),
    "video without script metadata": (
        lambda j: j.put_video("speaker", key=f"inbox/{j.prefix}-clip.mp4"),
        "missing_script",
        "x-amz-meta-script",
    ),
    "a manifest revoice may not read": (
        lambda j: _forbidden(j, j.drop_manifest({"source": "media/x.mp4", "script": LINE})),
        "source_access_denied",
        "403 Forbidden",
    ),
    "a campaign file revoice may not read": (
        lambda j: _forbidden(j, j.put_bytes(f"inbox/{j.prefix}-lines.csv", b"script\nHi.\n")),
        "source_access_denied",
        "403 Forbidden",
    ),
    "0-byte video in inbox": (
        lambda j: j.put_bytes(f"inbox/{j.prefix}-zero.MOV", b"", script=LINE),
        "empty_source",
        "0 bytes",
    ),
}


def _forbidden(inbox: Inbox, key: str) -> str:
    """The dropped object answers 403 (another account's key, a KMS key the role may not use)."""
    inbox.world.bucket.forbidden.add(key)
    return key


@pytest.mark.parametrize("case", list(S3_REJECTED))
def test_s3_trigger_rejects_bad_input_with_a_specific_error_and_starts_nothing(inbox: Inbox, case: str) -> None:
    drop, code, words = S3_REJECTED[case]
    key = drop(inbox)
    stored = dict(inbox.world.bucket.objects)
    outcome = inbox.tell(key)
    error = inbox.world.bucket.read_json(f"failed/{outcome['job_id']}/error.json")
    assert (error["status"], error["step"], error["errorCode"]) == ("REJECTED", "ingest", code)
    assert words in str(error["reason"])
    assert inbox.world.executions.started == {}
    assert inbox.world.jobs.records[outcome["job_id"]]["status"] == "REJECTED"
    assert {k: v for k, v in inbox.world.bucket.objects.items() if k in stored} == stored  # nothing lost
