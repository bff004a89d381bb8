"""sync. labs in memory, for tests that must not open sockets: what the steps ask of it (``SyncApi`` in
``revoice.pipeline.ports``), answering as the emulator does (the clone-slot 403, 404s for unknown voices and
generations, one generation per Idempotency-Key)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from revoice.sync.errors import SyncApiError, SyncTransportError
from revoice.sync.models import (
    Asset,
    Batch,
    BatchMetrics,
    BatchRequest,
    BatchResult,
    CostEstimate,
    GenerateRequest,
    Generation,
    TtsJob,
    TtsRequest,
    Voice,
)


@dataclass
class FakeSyncLabs:
    """sync. labs in memory: assets, clones, TTS jobs and generations, each finishing after ``polls``
    checks (0: finished in the first answer). ``clone_slots`` is the plan's clone limit."""

    polls: int = 1
    clone_slots: int = 10
    fail_generation: str | None = None  # an error code: generations end FAILED with it
    fail_deletes: bool = False  # every DELETE /v2/voices/{id} answers 500
    cost_per_generation: float = 0.5  # what POST /v2/analyze/cost estimates for any one generation
    estimates: list[GenerateRequest] = field(default_factory=list)
    assets: dict[str, bytes] = field(default_factory=dict)
    voices: dict[str, Voice] = field(default_factory=dict)  # the org's own: clones, counted against the slots
    built_in: dict[str, Voice] = field(
        default_factory=lambda: {"builtin-rachel": Voice(id="builtin-rachel", name="Rachel", provider="elevenlabs")}
    )
    downloads: dict[str, bytes] = field(default_factory=dict)
    generations: dict[str, Generation] = field(default_factory=dict)
    requests: dict[str, GenerateRequest] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    batch_api: bool = True  # False: POST /v2/batch answers 402, as on plans below Scale
    batch_busy: int = 0  # this many batch submissions answer the batch-concurrency 429 first
    batch_lost_answers: int = 0  # this many batch submissions create the batch, then the answer is lost
    unstarted: set[str] = field(default_factory=set)  # request ids a batch gives no generation
    batches: dict[str, list[BatchRequest]] = field(default_factory=dict)
    batch_posts: int = 0
    generation_posts: list[str | None] = field(default_factory=list)  # each POST /v2/generate's key
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _by_key: dict[str, str] = field(default_factory=dict)

    def _id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def upload(
        self,
        open_stream: Callable[[], IO[bytes]],
        *,
        size: int,
        file_name: str,
        content_type: str,
        asset_type: str,
        name: str | None = None,
    ) -> Asset:
        with open_stream() as stream:
            body = stream.read()
        assert len(body) == size
        asset_id = self._id("asset")
        url = f"https://assets.sync.test/{asset_id}/{file_name}"
        self.assets[asset_id] = self.downloads[url] = body
        return Asset(id=asset_id, url=url, type=asset_type, name=name, size=size)

    @contextmanager
    def open_download(self, url: str) -> Iterator[IO[bytes]]:
        yield io.BytesIO(self.downloads[url])

    def add_clone(self, name: str) -> str:
        """A clone made at sync. labs by someone (or some job) else; its id."""
        voice = Voice(id=self._id("voice"), name=name, provider="elevenlabs")
        self.voices[str(voice.id)] = voice
        return str(voice.id)

    def list_voices(self) -> list[Voice]:
        return [*self.built_in.values(), *self.voices.values()]

    def get_voice(self, voice_id: str) -> Voice:
        voice = self.voices.get(voice_id) or self.built_in.get(voice_id)
        if voice is None:
            raise SyncApiError(404, "voice_not_found", f"no voice {voice_id}")
        return voice

    def clone_voice(self, name: str, *, asset_id: str | None = None, url: str | None = None) -> Voice:
        if len(self.voices) >= self.clone_slots:
            raise SyncApiError(403, "voice_clone_limit_reached", f"All {self.clone_slots} clone slots are in use")
        return self.voices[self.add_clone(name)]

    def delete_voice(self, voice_id: str) -> bool:
        if self.fail_deletes:
            raise SyncApiError(500, "internal_server_error", "try again later")
        if voice_id not in self.voices:
            raise SyncApiError(404, "voice_not_found", f"no voice {voice_id}")
        del self.voices[voice_id]
        return True

    def _progress(self, job_id: str) -> bool:
        """One more check on ``job_id``; True once it has had its ``polls``."""
        self.checks[job_id] = self.checks.get(job_id, -1) + 1
        return self.checks[job_id] >= self.polls

    def start_tts(self, request: TtsRequest, *, idempotency_key: str | None = None) -> TtsJob:
        job_id = self._by_key.setdefault(f"tts:{idempotency_key}", self._id("tts"))
        return self.get_tts(TtsJob(id=job_id, status="PENDING"))

    def get_tts(self, job: TtsJob) -> TtsJob:
        if not self._progress(job.id):
            return TtsJob(id=job.id, status="PROCESSING", endpoint=job.endpoint)
        url = f"https://assets.sync.test/tts/{job.id}.wav"
        self.downloads[url] = b"RIFF-speech"
        return TtsJob(id=job.id, status="SUCCESS", url=url, duration=2.5, endpoint=job.endpoint)

    def create_generation(
        self, request: GenerateRequest, *, idempotency_key: str | None = None, once: bool = False
    ) -> Generation:
        self.generation_posts.append(idempotency_key)
        generation_id = self._by_key.setdefault(f"generation:{idempotency_key}", self._id("generation"))
        known = self.requests.get(generation_id)
        if idempotency_key is not None and known is not None and known.wire() != request.wire():
            raise SyncApiError(409, "idempotency_key_conflict", "This Idempotency-Key was used with a different body.")
        self.requests[generation_id] = request
        return self.get_generation(generation_id)

    def estimate_cost(self, request: GenerateRequest) -> list[CostEstimate]:
        self.estimates.append(request)
        return [CostEstimate(estimated_frame_count=100, estimated_generation_cost=self.cost_per_generation)]

    def get_generation(self, generation_id: str, *, wait_seconds: int | None = None) -> Generation:
        if generation_id not in self.requests:
            raise SyncApiError(404, "generation_not_found", f"no generation {generation_id}")
        if not self._progress(generation_id):
            return Generation(id=generation_id, status="PROCESSING", model=self.requests[generation_id].model)
        if self.fail_generation:
            return Generation(id=generation_id, status="FAILED", error="it failed", error_code=self.fail_generation)
        url = f"https://assets.sync.test/outputs/{generation_id}.mp4?signature=secret"
        self.downloads[url] = b"lip-synced video"
        return Generation(id=generation_id, status="COMPLETED", output_url=url, output_duration=2.5)

    def create_batch(
        self, requests: list[BatchRequest], *, webhook_url: str | None = None, dry_run: bool = False
    ) -> Batch:
        self.batch_posts += 1
        if not self.batch_api:
            raise SyncApiError(402, "batch_not_available", "The Batch API is available on Scale and Enterprise plans")
        if self.batch_busy:
            self.batch_busy -= 1
            raise SyncApiError(429, "concurrency_limit_reached", "Batch concurrency limit reached")
        batch_id = self._id("batch")
        self.batches[batch_id] = requests
        if self.batch_lost_answers:
            self.batch_lost_answers -= 1
            raise SyncTransportError("timeout", "POST /v2/batch timed out")
        return self.get_batch(batch_id)

    def get_batch(self, batch_id: str) -> Batch:
        requests = self.batches[batch_id]
        done = self._progress(batch_id)
        metrics = BatchMetrics(total_generations=len(requests), success_count=len(requests) if done else 0)
        return Batch(
            id=batch_id,
            status="COMPLETED" if done else "PROCESSING",
            metrics=metrics,
            output_url=f"https://api.sync.test/v2/batches/{batch_id}/result" if done else "",
        )

    def list_batches(self, *, status: str | None = None, created_after: str | None = None) -> list[Batch]:
        return [self.get_batch(batch_id) for batch_id in reversed(self.batches)]

    def batch_results(self, batch: Batch) -> list[BatchResult]:
        rows = []
        for request in self.batches[batch.id]:
            if request.request_id in self.unstarted:
                rows.append(BatchResult(request_id=request.request_id, status="FAILED", error_code="batch_refused"))
                continue
            generation = self.create_generation(request.payload, idempotency_key=f"batch-{request.request_id}")
            rows.append(BatchResult(request_id=request.request_id, status="COMPLETED", generation_id=generation.id))
        return rows
