"""What the emulated organisation holds, one typed record per kind, each with the views the API answers."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic.alias_generators import to_camel

from revoice.pipeline.clock import stamp

WEBHOOK_FIELDS = (
    "id",
    "status",
    "createdAt",
    "model",
    "input",
    "options",
    "outputUrl",
    "outputDuration",
    "webhookUrl",
    "error",
)


@dataclass
class Ticket:
    """A presigned upload: where the bytes go, and what they must be."""

    token: str
    key: str
    content_type: str
    size: int
    expires: float


@dataclass
class VoiceRecord:
    id: str | None
    name: str | None
    provider: str = "elevenlabs"
    internal_voice_id: str | None = field(default_factory=lambda: uuid.uuid4().hex[:20])
    voice_id: str | None = None  # the provider's own id (built-ins carry one)
    preview_url: str | None = None
    restriction: Literal["verification_required", "blocked"] | None = None
    builtin: bool = False  # not part of the API: built-ins hold no clone slot

    def listed(self) -> dict[str, Any]:
        """As GET /v2/voices lists it (only ``provider`` is required there)."""
        view = {
            "id": self.id,
            "name": self.name,
            "provider": self.provider,
            "internalVoiceId": self.internal_voice_id,
            "voiceId": self.voice_id,
            "previewUrl": self.preview_url,
            "restriction": self.restriction,
        }
        return {k: v for k, v in view.items() if v is not None or k == "provider"}

    def cloned(self, shape: Literal["voiceId", "id"]) -> dict[str, Any]:
        """POST /v2/voices' answer: ``{voiceId, name, internalVoiceId}`` in the reference, ``id`` elsewhere."""
        return {shape: self.id, "name": self.name, "internalVoiceId": self.internal_voice_id}


@dataclass
class TtsJobRecord:
    id: str
    status: str = "PENDING"
    url: str | None = None
    duration: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: str = field(default_factory=stamp)
    started_at: str | None = None
    finished_at: str | None = None

    def job(self, error_shape: Literal["object", "string"]) -> dict[str, Any]:
        """As /v2/tts/jobs answers it; a failed job's ``error`` is a ``TtsJobError`` object."""
        error: Any = None
        if self.error_code is not None:
            error = (
                {"code": self.error_code, "message": self.error_message}
                if error_shape == "object"
                else self.error_message
            )
        return {
            "id": self.id,
            "status": self.status,
            "url": self.url,
            "duration": self.duration,
            "error": error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }

    def seed(self) -> dict[str, Any]:
        """The product document's shape: a job polled until COMPLETED, then ``synthesizedAudioUrl``."""
        return {
            "id": self.id,
            "status": "COMPLETED" if self.status == "SUCCESS" else self.status,
            "synthesizedAudioUrl": self.url,
            "duration": self.duration,
            "error": self.error_message,
            "errorCode": self.error_code,
            "createdAt": self.created_at,
        }


@dataclass
class GenerationRecord:
    id: str
    body: dict[str, Any]
    video: Path | None
    audio: Path | None
    text: dict[str, Any] | None
    remote: dict[str, str] = field(default_factory=dict)  # input type -> a public URL to fetch when it runs
    created_at: str = field(default_factory=stamp)
    status: str = "PENDING"
    output_url: str | None = None
    output_duration: float | None = None
    error: str | None = None
    error_code: str | None = None
    synthesized_audio_url: str | None = None
    progress: int = 0
    finished_at: float | None = None  # wall clock, for latency measurements (not part of the API)
    idempotency_key: str | None = None  # who asked for it, for duplicate counting (not part of the API)
    batch_id: str | None = None  # a batch's generations do not count against the plan's concurrency
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self, *, progress: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "createdAt": self.created_at,
            "status": self.status,
            "model": self.body.get("model", "lipsync-2"),
            "input": self.body["input"],
            "options": self.body.get("options") or {},
            "outputUrl": self.output_url,
            "outputDuration": self.output_duration,
            "outputFileName": self.body.get("outputFileName"),
            "webhookUrl": self.body.get("webhookUrl"),
            "error": self.error,
            "errorCode": self.error_code,
        }
        if self.text is not None:
            data["synthesizedAudioUrl"] = self.synthesized_audio_url
        if progress:
            data["progress"] = self.progress
        return data

    def webhook(self) -> dict[str, Any]:
        """The webhook body: the reference's fields only, ``error_code`` in snake case."""
        view = self.public()
        return {**{k: view[k] for k in WEBHOOK_FIELDS}, "error_code": self.error_code}


BATCH_RUNNING = ("PENDING", "JOBS_CREATED", "PROCESSING")


@dataclass
class BatchRecord:
    id: str
    requests: list[dict[str, Any]]  # the .jsonl's lines, as sent
    webhook_url: str | None
    created_at: str = field(default_factory=stamp)
    status: str = "PENDING"
    generations: dict[str, str] = field(default_factory=dict)  # request_id -> generation id
    rows: list[dict[str, Any]] = field(default_factory=list)  # the results file, once COMPLETED
    output_url: str = ""

    def public(self, generations: dict[str, GenerationRecord], *, camel: bool = False) -> dict[str, Any]:
        """As the batch endpoints answer it (``metrics`` snake_case); the webhook's example writes camelCase."""
        ended = [generations[g] for g in self.generations.values() if g in generations]
        succeeded = sum(1 for g in ended if g.status == "COMPLETED")
        unstarted = sum(1 for row in self.rows if row.get("generation_id") is None)
        failed = sum(1 for g in ended if g.status in ("FAILED", "REJECTED")) + unstarted
        metrics = {
            "total_generations": len(self.requests),
            "success_count": succeeded,
            "failed_count": failed,
            "pending_count": len(self.requests) - succeeded - failed,
        }
        if camel:
            metrics = {to_camel(name): value for name, value in metrics.items()}
        return {
            "id": self.id,
            ("createdAt" if camel else "created_at"): self.created_at,
            "status": self.status,
            "metrics": metrics,
            "webhookUrl": self.webhook_url,
            "outputUrl": self.output_url,
        }
