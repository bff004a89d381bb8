"""What the pipeline needs of the world, as small protocols: the bucket, the job, voice, slot and callback
tables, executions, the event bus, and sync. labs.

The pipeline is written against these; ``revoice.aws`` implements them on boto3 and ``revoice.sync`` on
httpx, and tests give in-memory stand-ins (``tests/fakes.py``). Each protocol names only what a step
calls, so a fake is short and a new adapter knows exactly what to provide.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from revoice.pipeline.outcome import JobOutcome
    from revoice.pipeline.voices import VoiceRecord
    from revoice.sync.models import (
        Asset,
        AssetType,
        Batch,
        BatchRequest,
        BatchResult,
        CostEstimate,
        GenerateRequest,
        Generation,
        TtsJob,
        TtsRequest,
        Voice,
    )


@dataclass(frozen=True)
class QueuedLine:
    """A campaign line about to run (again): the row its job is followed by from now on."""

    job_id: str
    trigger_key: str
    source: str
    execution_arn: str
    campaign_id: str


class ObjectForbidden(Exception):
    """The store refused to say anything of the object (S3's 403): not "missing" (a role that may list
    the bucket is told 404 for a missing key), but unreadable: another account's object, a KMS key the
    role may not use, or a policy that denies it."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key
        super().__init__(f"S3 refused access to s3://{bucket}/{key} (403)")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    version_id: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class GenerationStart:
    """The generation a waiting job asks for once it holds a slot: its request as sent, and its key.

    Whoever hands the job a slot starts it at once, as the job would; the job's own request, with the
    same key and body, finds that generation instead of making another."""

    request: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class Waiter:
    """A job in the line for a generation slot."""

    job_id: str
    entry: str
    task_token: str
    start: GenerationStart | None = None


@dataclass(frozen=True)
class CallbackRow:
    """Whichever of a generation's task token and completion webhook arrived, so far."""

    generation_id: str
    token: str | None
    generation: dict[str, Any] | None
    webhook: dict[str, Any] | None
    job_id: str | None = None


class ObjectStore(Protocol):
    """One bucket. Reads and writes stream: nothing holds a whole video in memory."""

    bucket: str

    def head(self, key: str) -> ObjectInfo | None: ...
    def exists(self, key: str) -> bool: ...
    def first_bytes(self, key: str, count: int) -> bytes: ...
    def open(self, key: str) -> IO[bytes]: ...
    def read_json(self, key: str) -> Any: ...
    def put_json(self, key: str, document: Any) -> None: ...
    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None: ...
    def presign(self, key: str, seconds: int) -> str: ...
    def presign_upload(self, key: str, max_bytes: int, seconds: int) -> dict[str, Any]: ...


class JobRecords(Protocol):
    """Each job's status and current step (S3 stays the source of truth for results)."""

    def claimed(self, job_id: str, trigger_key: str, request_hash: str) -> bool: ...
    def accepted(
        self,
        job_id: str,
        trigger_key: str,
        source: str,
        execution_arn: str,
        request_hash: str | None = None,
        notify_url: str | None = None,
    ) -> None: ...
    def rejected(self, job_id: str, trigger_key: str, code: str, reason: str, error_key: str) -> None: ...
    def entered(self, job_id: str, step: str) -> None: ...
    def succeeded(self, job_id: str, result_key: str) -> None: ...
    def failed(self, job_id: str, step: str, code: str, reason: str, error_key: str) -> None: ...
    def sync_status(self, job_id: str, status: str) -> None: ...
    def campaign_run(self, campaign_id: str, trigger_key: str, source: str) -> int | None: ...
    def started_as(self, job_id: str, execution_arn: str) -> None: ...
    def lines_queued(self, lines: list[QueuedLine]) -> None: ...
    def holding_voice(self, job_id: str, voice_id: str) -> None: ...
    def notified(self, job_id: str, delivery: dict[str, Any]) -> None: ...
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def get_many(self, job_ids: list[str]) -> dict[str, dict[str, Any]]: ...
    def recent(self, limit: int) -> list[dict[str, Any]]: ...
    def is_running(self, job_id: str) -> bool: ...


class VoiceRegistry(Protocol):
    """The clones revoice made. ``hold`` and ``claim_for_deletion`` are atomic and exclusive: a voice is
    held only while active, and claimed only while nobody holds it."""

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
    ) -> None: ...
    def get(self, voice_id: str) -> VoiceRecord | None: ...
    def by_source(self, source_hash: str) -> list[VoiceRecord]: ...
    def all(self) -> list[VoiceRecord]: ...
    def hold(self, voice_id: str, job_id: str) -> bool: ...
    def release(self, voice_id: str, job_id: str) -> None: ...
    def claim_for_deletion(self, voice_id: str) -> bool: ...
    def unclaim(self, voice_id: str) -> None: ...
    def forget(self, voice_id: str) -> None: ...


class SlotLease(Protocol):
    """The plan's generation slots and their waiting line, as atomic writes. Every write that can race
    is conditional and says whether it held."""

    limit: int

    def acquire(self, job_id: str) -> bool: ...
    def release(self, job_id: str) -> None: ...
    def holders(self) -> set[str]: ...
    def replace_holders(self, read: set[str], holders: set[str]) -> bool: ...
    def enqueue(self, job_id: str, entry: str, task_token: str, start: GenerationStart | None) -> None: ...
    def dequeue(self, entry: str) -> None: ...
    def line(self) -> list[Waiter]: ...
    def take_out_of_line(self, waiter: Waiter) -> bool: ...


class CallbackStore(Protocol):
    def park(self, generation_id: str, token: str, generation: dict[str, Any], job_id: str) -> CallbackRow: ...
    def arrived(self, generation_id: str, webhook: dict[str, Any]) -> CallbackRow: ...


class Resumer(Protocol):
    """Hands a result back to the execution waiting on a task token; False when nobody waits on it."""

    def resume(self, token: str, generation: dict[str, Any]) -> bool: ...
    def wake(self, token: str, generation: dict[str, Any] | None = None) -> bool: ...


class Executions(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> str | None: ...
    def arn_of(self, name: str) -> str: ...


class JobEvents(Protocol):
    """Where a job's end is announced to the systems around revoice (EventBridge)."""

    def publish(self, outcome: JobOutcome) -> None: ...


class SyncApi(Protocol):
    """What the steps ask of sync. labs (``revoice.sync.SyncApi`` is the real one)."""

    def upload(
        self,
        open_stream: Callable[[], IO[bytes]],
        *,
        size: int,
        file_name: str,
        content_type: str,
        asset_type: AssetType,
        name: str | None = None,
    ) -> Asset: ...
    def open_download(self, url: str) -> AbstractContextManager[IO[bytes]]: ...
    def list_voices(self) -> list[Voice]: ...
    def get_voice(self, voice_id: str) -> Voice: ...
    def clone_voice(self, name: str, *, asset_id: str | None = None, url: str | None = None) -> Voice: ...
    def delete_voice(self, voice_id: str) -> bool: ...
    def start_tts(self, request: TtsRequest, *, idempotency_key: str | None = None) -> TtsJob: ...
    def get_tts(self, job: TtsJob) -> TtsJob: ...
    def create_generation(
        self, request: GenerateRequest, *, idempotency_key: str | None = None, once: bool = False
    ) -> Generation: ...
    def get_generation(self, generation_id: str, *, wait_seconds: int | None = None) -> Generation: ...
    def estimate_cost(self, request: GenerateRequest) -> list[CostEstimate]: ...
    def create_batch(
        self, requests: list[BatchRequest], *, webhook_url: str | None = None, dry_run: bool = False
    ) -> Batch: ...
    def get_batch(self, batch_id: str) -> Batch: ...
    def list_batches(self, *, status: str | None = None, created_after: str | None = None) -> list[Batch]: ...
    def batch_results(self, batch: Batch) -> list[BatchResult]: ...
