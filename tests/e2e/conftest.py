"""One local stack for the end-to-end tests: moto's real ASL interpreter, the real handlers in-process,
the emulator over real HTTP. Each test gets a clean fault book and the default emulator timings."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.stack.stack import JobEnd, LocalStack
from tests.e2e import session_checks

MAX_UPLOAD_BYTES = 3 * 1024 * 1024
# Long enough (12 s at the session's time scale) to outlast a job that gives up after 5 s, short enough
# that the generation then ends and frees its place in the emulated plan's concurrency for later tests:
# sync. labs cannot cancel a running generation, so one that never ended would hold it for good.
OUTLASTS_THE_JOB = 240
EMULATOR = EmulatorConfig(time_scale=0.05, plan="creator", clone_slots=500, clones_per_hour=10_000)


@dataclass
class MatrixRow:
    """One line of the fault matrix: what happened to a batch of jobs under one fault."""

    fault: str
    jobs: int
    completed: int = 0
    failed_cleanly: int = 0
    failed_vaguely: int = 0
    lost: int = 0
    duplicated: int = 0
    leaked: int = 0

    def count(self, ends: dict[str, JobEnd | None], *, expect: str, vague: set[str]) -> None:
        for end in ends.values():
            if end is None:
                self.lost += 1
            elif end.result is not None:
                self.completed += 1
            elif end.error is not None and end.error.get("errorCode") not in vague and end.error.get("reason"):
                self.failed_cleanly += 1
            else:
                self.failed_vaguely += 1

    def summary(self) -> dict[str, int | str]:
        """The row of the table printed at the end of the run."""
        return {
            "fault": self.fault,
            "jobs": self.jobs,
            "completed": self.completed,
            "failed cleanly": self.failed_cleanly,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "leaked": self.leaked,
        }


class LogRecords(logging.Handler):
    """Every log record of the session, rendered with its extra fields, for the secrets scan."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


SESSION_LOGS = LogRecords()


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    for name in ("", "revoice", "revoice.sync.client", "revoice.emulator"):
        logging.getLogger(name).addHandler(SESSION_LOGS)
    with LocalStack(EMULATOR.model_copy(), parameters={"MaxUploadBytes": MAX_UPLOAD_BYTES}) as local:
        yield local
        # After the session's last end-to-end test, whichever ran: nothing is held, no secret was written.
        session_checks.nothing_is_held(local)
        session_checks.no_secret_was_written(local, SESSION_LOGS.lines)


@pytest.fixture(autouse=True)
def _clean_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    if "stack" not in request.fixturenames:
        yield
        return
    local: LocalStack = request.getfixturevalue("stack")
    emulator = local.emulator.emulator
    saved = emulator.config.model_copy()
    emulator.faults.replace([])
    yield
    emulator.faults.replace([])
    local.runtime.clear_faults()
    for name in type(saved).model_fields:
        setattr(emulator.config, name, getattr(saved, name))


def post_webhook(stack: LocalStack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """``body`` POSTed to the stack's completion webhook route, as sync. labs posts it."""
    return httpx.post(
        f"{stack.api.url}/webhooks/sync",
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=30,  # the HTTP API's own limit: a cold environment on a loaded machine takes more than httpx's 5 s
    )


class JobEvents:
    """What the stack published on its event bus, read from an SQS queue an EventBridge rule feeds, as a
    user's own rule would (moto delivers rule targets on SQS itself)."""

    def __init__(self, stack: LocalStack) -> None:
        import boto3

        self._sqs = boto3.client("sqs")
        self._queue = self._sqs.create_queue(QueueName="revoice-job-events")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])["Attributes"]
        events = boto3.client("events")
        events.put_rule(Name="revoice-job-events", EventPattern=json.dumps({"source": ["revoice"]}))
        events.put_targets(Rule="revoice-job-events", Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}])
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def of(self, job_id: str, timeout: float = 20) -> list[dict[str, Any]]:
        """The events published for ``job_id``, once there is one."""
        deadline = time.monotonic() + timeout
        while job_id not in self.seen:
            assert time.monotonic() < deadline, f"no event was published for {job_id}"
            answer = self._sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                event = json.loads(message["Body"])
                self.seen.setdefault(event["detail"]["jobId"], []).append(event)
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"])
        return self.seen[job_id]


@pytest.fixture(scope="session")
def job_events(stack: LocalStack) -> JobEvents:
    return JobEvents(stack)


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    speaker, presenter = root / "speaker.mp4", root / "presenter.mp4"
    media.make_talking_head(speaker, "I am the speaker. These sentences give the cloner something to work with.")
    media.make_talking_head(presenter, "I am the presenter on screen.", voice_id="presenter")
    return {"speaker": speaker, "presenter": presenter}


class Jobs:
    """Drop things in the local bucket the way a user would, and wait for what comes out."""

    def __init__(self, stack: LocalStack, videos: dict[str, Path]) -> None:
        self.stack = stack
        self.videos = videos
        self.prefix = f"t-{uuid.uuid4().hex[:8]}"

    def put_video(self, name: str = "speaker", key: str | None = None, **metadata: str) -> str:
        key = key or f"media/{self.prefix}/{name}.mp4"
        self.stack.s3.put_object(
            Bucket=self.stack.bucket, Key=key, Body=self.videos[name].read_bytes(), Metadata=metadata
        )
        return key

    def put_bytes(self, key: str, body: bytes, **metadata: str) -> str:
        self.stack.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=body, Metadata=metadata)
        return key

    def drop_manifest(self, manifest: dict[str, Any] | bytes, name: str = "job") -> str:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.put_bytes(f"inbox/{self.prefix}-{name}.json", body)

    def run(self, manifest: dict[str, Any], timeout: float = 90, name: str = "job") -> JobEnd:
        key = self.drop_manifest(manifest, name=name)
        return self.stack.wait_for_job(self.job_id(key), timeout=timeout)

    def job_id(self, key: str) -> str:
        """The job id the ingest handler derived: moto's events carry the ETag, not the version id."""
        from revoice.pipeline.job_id import job_id_for

        etag = self.stack.s3.head_object(Bucket=self.stack.bucket, Key=key)["ETag"].strip('"')
        return job_id_for(self.stack.bucket, key, etag)

    def keys(self, prefix: str) -> list[str]:
        listed = self.stack.s3.list_objects_v2(Bucket=self.stack.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture
def jobs(stack: LocalStack, videos: dict[str, Path]) -> Jobs:
    return Jobs(stack, videos)


class IngestEvents:
    """The S3 events the ingest function received, kept to deliver them again, as S3 sometimes does."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def record(self, function_name: str, event: dict[str, Any]) -> None:
        if function_name.endswith("IngestFunction"):
            self.seen.append(event)

    def for_key(self, key: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        name = key.rsplit("/", 1)[-1]
        while not (matching := [event for event in self.seen if name in json.dumps(event)]):
            assert time.monotonic() < deadline, f"the S3 event for {key} never reached the ingest function"
            time.sleep(0.05)
        return matching[0]

    def deliver_again(self, stack: LocalStack, key: str, times: int) -> list[dict[str, Any]]:
        event = self.for_key(key)
        return [stack.invoke("IngestFunction", event) for _ in range(times)]


@pytest.fixture
def ingest_events(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> IngestEvents:
    events = IngestEvents()
    monkeypatch.setattr(stack.runtime.invocations, "hooks", [events.record])
    return events
