"""In-memory stand-ins for the pipeline's ports (``revoice.pipeline.ports``), for tests that must not open
sockets. Each keeps the rule its real adapter rests on (a conditional write that fails says so, a
used task token is refused, an Idempotency-Key finds the same generation), and the slot lease is held
to the same tests as the DynamoDB one (``tests/adapters``)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import IO, Any

import pytest

from revoice.pipeline.clock import stamp
from revoice.pipeline.outcome import JobOutcome
from revoice.pipeline.ports import CallbackRow, GenerationStart, ObjectForbidden, ObjectInfo, QueuedLine, Waiter
from revoice.pipeline.slots import GenerationSlots
from revoice.pipeline.voices import ACTIVE, DELETING, VoiceRecord
from tests.fake_sync import FakeSyncLabs


class MemoryBucket:
    """One bucket: objects by key, with their content type and metadata; ``forbidden`` keys answer 403."""

    def __init__(self, bucket: str = "jobs") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.forbidden: set[str] = set()

    def put(self, key: str, body: bytes, content_type: str = "video/mp4", **metadata: str) -> None:
        self.objects[key], self.content_types[key], self.metadata[key] = body, content_type, metadata

    def head(self, key: str) -> ObjectInfo | None:
        if key in self.forbidden:
            raise ObjectForbidden(self.bucket, key)
        body = self.objects.get(key)
        if body is None:
            return None
        return ObjectInfo(
            key, len(body), hashlib.md5(body, usedforsecurity=False).hexdigest(), None, dict(self.metadata.get(key, {}))
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def first_bytes(self, key: str, count: int) -> bytes:
        return self.objects[key][:count]

    def open(self, key: str) -> IO[bytes]:
        return io.BytesIO(self.objects[key])

    def read_json(self, key: str) -> Any:
        return json.loads(self.objects[key]) if key in self.objects else None

    def put_json(self, key: str, document: Any) -> None:
        self.put(key, json.dumps(document, indent=2).encode(), "application/json")

    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        self.put(key, stream.read(), content_type)

    def presign(self, key: str, seconds: int) -> str:
        return f"https://{self.bucket}.s3.test/{key}?X-Amz-Expires={seconds}&X-Amz-Signature=fake"

    def presign_upload(self, key: str, max_bytes: int, seconds: int) -> dict[str, Any]:
        policy = {"key": key, "max_bytes": max_bytes, "seconds": seconds}
        return {"url": f"https://{self.bucket}.s3.test/", "fields": {"key": key, "policy": json.dumps(policy)}}


class MemoryJobs:
    """The job table: ``claimed`` and ``accepted`` are conditional, as their DynamoDB writes are."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, list[str]] = {}

    def _set(self, job_id: str, **fields: Any) -> None:
        record = self.records.setdefault(job_id, {"jobId": job_id, "listedAt": stamp()})
        record.update(fields, updatedAt=stamp())

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """Newest first; jobs listed in the same millisecond, the later one first."""
        arrival = {job_id: n for n, job_id in enumerate(self.records)}
        newest = sorted(self.records.values(), key=lambda r: (str(r["listedAt"]), arrival[r["jobId"]]), reverse=True)
        return newest[:limit]

    def claimed(self, job_id: str, trigger_key: str, request_hash: str) -> bool:
        if job_id in self.records:
            return False
        self._set(job_id, status="ACCEPTED", step="queued", triggerKey=trigger_key, requestHash=request_hash)
        return True

    def accepted(
        self,
        job_id: str,
        trigger_key: str,
        source: str,
        execution_arn: str,
        request_hash: str | None = None,
        notify_url: str | None = None,
    ) -> None:
        if self.records.get(job_id, {}).get("status", "ACCEPTED") != "ACCEPTED":
            return
        extra = {"requestHash": request_hash} if request_hash else {}
        if notify_url:
            extra["notifyUrl"] = notify_url
        self._set(
            job_id, status="RUNNING", step="queued", triggerKey=trigger_key, source=source, executionArn=execution_arn
        )
        self._set(job_id, **extra)

    def rejected(self, job_id: str, trigger_key: str, code: str, reason: str, error_key: str) -> None:
        self._set(job_id, status="REJECTED", step="ingest", triggerKey=trigger_key, errorCode=code, reason=reason)
        self._set(job_id, errorKey=error_key)

    def entered(self, job_id: str, step: str) -> None:
        self.steps.setdefault(job_id, []).append(step)
        self._set(job_id, step=step)

    def succeeded(self, job_id: str, result_key: str) -> None:
        self._set(job_id, status="SUCCEEDED", step="done", resultKey=result_key)

    def failed(self, job_id: str, step: str, code: str, reason: str, error_key: str) -> None:
        self._set(job_id, status="FAILED", step=step, errorCode=code, reason=reason, errorKey=error_key)

    def sync_status(self, job_id: str, status: str) -> None:
        self._set(job_id, syncStatus=status)

    def campaign_run(self, campaign_id: str, trigger_key: str, source: str) -> int | None:
        record = self.records.get(campaign_id, {})
        if record.get("status") in ("RUNNING", "ACCEPTED"):
            return None
        attempts = int(record.get("attempts", 0)) + 1
        self._set(campaign_id, status="RUNNING", step="queued", triggerKey=trigger_key, source=source, kind="campaign")
        self._set(campaign_id, attempts=attempts, startedAt=stamp())
        return attempts

    def started_as(self, job_id: str, execution_arn: str) -> None:
        self._set(job_id, executionArn=execution_arn)

    def lines_queued(self, lines: list[QueuedLine]) -> None:
        for line in lines:
            record = self.records.setdefault(line.job_id, {"jobId": line.job_id, "listedAt": ""})
            for cleared in ("errorCode", "reason", "errorKey", "finishedAt", "resultKey"):
                record.pop(cleared, None)
            attempts = int(record.get("attempts", 0)) + 1
            self._set(line.job_id, status="RUNNING", step="queued", triggerKey=line.trigger_key, source=line.source)
            self._set(line.job_id, attempts=attempts, executionArn=line.execution_arn, campaignId=line.campaign_id)
            self._set(line.job_id, startedAt=stamp())

    def get_many(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {job_id: dict(self.records[job_id]) for job_id in job_ids if job_id in self.records}

    def holding_voice(self, job_id: str, voice_id: str) -> None:
        self._set(job_id, voiceId=voice_id)

    def notified(self, job_id: str, delivery: dict[str, Any]) -> None:
        self._set(job_id, notification=dict(delivery))

    def get(self, job_id: str) -> dict[str, Any] | None:
        record = self.records.get(job_id)
        return dict(record) if record else None

    def is_running(self, job_id: str) -> bool:
        return self.records.get(job_id, {}).get("status") == "RUNNING"


class MemoryVoices:
    """The voice registry: a voice is held only while active, claimed only while nobody holds it."""

    def __init__(self) -> None:
        self.records: dict[str, VoiceRecord] = {}

    def record(
        self,
        voice_id: str,
        name: str,
        *,
        source_hash: str,
        source_key: str,
        job_id: str | None,
        ephemeral: bool = False,
        created_at: str | None = None,
    ) -> None:
        now = stamp()
        holders = frozenset({job_id}) if job_id else frozenset()
        self.records[voice_id] = VoiceRecord(
            voice_id, name, source_hash, source_key, created_at or now, now, holders, ACTIVE, ephemeral
        )

    def get(self, voice_id: str) -> VoiceRecord | None:
        return self.records.get(voice_id)

    def by_source(self, source_hash: str) -> list[VoiceRecord]:
        found = [r for r in self.records.values() if r.source_hash == source_hash and r.state == ACTIVE]
        return sorted((r for r in found if not r.ephemeral), key=lambda r: r.last_used_at, reverse=True)

    def all(self) -> list[VoiceRecord]:
        return list(self.records.values())

    def hold(self, voice_id: str, job_id: str) -> bool:
        record = self.records.get(voice_id)
        if record is None or record.state != ACTIVE:
            return False
        self.records[voice_id] = replace(record, holders=record.holders | {job_id}, last_used_at=stamp())
        return True

    def release(self, voice_id: str, job_id: str) -> None:
        if record := self.records.get(voice_id):
            self.records[voice_id] = replace(record, holders=record.holders - {job_id}, last_used_at=stamp())

    def claim_for_deletion(self, voice_id: str) -> bool:
        record = self.records.get(voice_id)
        if record is None or record.state != ACTIVE or record.holders:
            return False
        self.records[voice_id] = replace(record, state=DELETING)
        return True

    def unclaim(self, voice_id: str) -> None:
        if record := self.records.get(voice_id):
            self.records[voice_id] = replace(record, state=ACTIVE)

    def forget(self, voice_id: str) -> None:
        self.records.pop(voice_id, None)


class MemorySlotLease:
    """The slot lease and its line; one lock stands for DynamoDB's per-item atomicity."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._holders: set[str] = set()
        self._line: dict[str, Waiter] = {}
        self._lock = threading.Lock()

    def acquire(self, job_id: str) -> bool:
        with self._lock:
            if len(self._holders) >= self.limit and job_id not in self._holders:
                return False
            self._holders.add(job_id)
            return True

    def release(self, job_id: str) -> None:
        with self._lock:
            self._holders.discard(job_id)

    def holders(self) -> set[str]:
        with self._lock:
            return set(self._holders)

    def replace_holders(self, read: set[str], holders: set[str]) -> bool:
        with self._lock:
            if self._holders != read:
                return False
            self._holders = set(holders)
            return True

    def enqueue(self, job_id: str, entry: str, task_token: str, start: GenerationStart | None) -> None:
        with self._lock:
            self._line[entry] = Waiter(job_id, entry, task_token, start)

    def dequeue(self, entry: str) -> None:
        with self._lock:
            self._line.pop(entry, None)

    def line(self) -> list[Waiter]:
        with self._lock:
            return [self._line[entry] for entry in sorted(self._line)]

    def take_out_of_line(self, waiter: Waiter) -> bool:
        with self._lock:
            entry = self._line.get(waiter.entry)
            if entry is None or entry.task_token != waiter.task_token:
                return False
            del self._line[waiter.entry]
            return True


class MemoryCallbacks:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def _set(self, generation_id: str, **fields: Any) -> CallbackRow:
        row = self.rows.setdefault(generation_id, {})
        row.update(fields)
        return CallbackRow(
            generation_id, row.get("token"), row.get("generation"), row.get("webhook"), row.get("job_id")
        )

    def park(self, generation_id: str, token: str, generation: dict[str, Any], job_id: str) -> CallbackRow:
        return self._set(generation_id, token=token, generation=generation, job_id=job_id)

    def arrived(self, generation_id: str, webhook: dict[str, Any]) -> CallbackRow:
        return self._set(generation_id, webhook=webhook)


class MemoryTokens:
    """Task tokens as Step Functions keeps them: each resumes its execution once; ``open`` ones wait."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.outputs: dict[str, dict[str, Any] | None] = {}

    def resume(self, token: str, generation: dict[str, Any] | None) -> bool:
        if token not in self.open:
            return False
        self.open.discard(token)
        self.outputs[token] = generation
        return True

    def wake(self, token: str, generation: dict[str, Any] | None = None) -> bool:
        return self.resume(token, generation)


class MemoryEvents:
    """The event bus: what was published, in order."""

    def __init__(self) -> None:
        self.published: list[JobOutcome] = []

    def publish(self, outcome: JobOutcome) -> None:
        self.published.append(outcome)


class MemoryExecutions:
    """Executions by name: a second start of one name changes nothing, as on Step Functions."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if name in self.started:
            return None
        self.started[name] = payload
        return self.arn_of(name)

    def arn_of(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:revoice:{name}"


@dataclass
class World:
    """Every port a handler is given, in memory; ``wire`` hands them to a handler module instead of the
    AWS adapters and the sync. labs client its runtime would make."""

    bucket: MemoryBucket = field(default_factory=lambda: MemoryBucket("revoice-jobs-123456789012-us-east-1"))
    jobs: MemoryJobs = field(default_factory=MemoryJobs)
    voices: MemoryVoices = field(default_factory=MemoryVoices)
    lease: MemorySlotLease = field(default_factory=lambda: MemorySlotLease(6))
    callbacks: MemoryCallbacks = field(default_factory=MemoryCallbacks)
    tokens: MemoryTokens = field(default_factory=MemoryTokens)
    executions: MemoryExecutions = field(default_factory=MemoryExecutions)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    sync: FakeSyncLabs = field(default_factory=FakeSyncLabs)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> GenerationSlots:
        return GenerationSlots(self.lease)

    def wire(self, module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
        ports: dict[str, Callable[..., Any]] = {
            "store": lambda bucket: self.bucket,
            "jobs": lambda _: self.jobs,
            "voices": lambda _: self.voices,
            "slots": lambda _: self.slots,
            "callbacks": lambda _: self.callbacks,
            "resumer": lambda: self.tokens,
            "executions": lambda _: self.executions,
            "events": lambda _: self.events,
            "sync_client": lambda _: self.sync,
            "secret": self.secrets.__getitem__,
        }
        for name, port in ports.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, port)
