"""A typed, retrying client for the sync. labs v2 API, over httpx.

Neither official SDK covers asset uploads, voices or TTS, so revoice speaks HTTP itself. The API key is
sent only to the API host: presigned storage URLs and output downloads go through a second HTTP client
that never carries it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Literal

import httpx
from pydantic import TypeAdapter, ValidationError

from revoice.sync.errors import SyncApiError, SyncJobFailed
from revoice.sync.models import (
    IDEMPOTENCY_KEY,
    Asset,
    AssetType,
    Batch,
    BatchRequest,
    BatchResult,
    ClonedVoice,
    CostEstimate,
    GenerateRequest,
    Generation,
    Page,
    TtsJob,
    TtsRequest,
    UploadTicket,
    Voice,
)
from revoice.sync.streams import CHUNK_BYTES, reader
from revoice.sync.transport import Transport

TtsShape = Literal["auto", "jobs", "tts"]
# A 503 for these codes means "try later"; any other 503 from /v2/tts/jobs means "not enabled here".
TTS_BUSY_CODES = frozenset({"elevenlabs_service_unavailable"})
TTS_NOT_ENABLED_CODES = frozenset({"tts_jobs_not_enabled", "not_found", "feature_not_enabled"})
OUTCOME_UNKNOWN = "IDEMPOTENCY_OUTCOME_UNKNOWN"

log = logging.getLogger(__name__)
_voices = TypeAdapter(list[Voice])
_generations = TypeAdapter(list[Generation])
_estimates = TypeAdapter(list[CostEstimate])
_batches = TypeAdapter(list[Batch])


class SyncClient(Transport):
    """One org's view of sync. labs. Create once per process and reuse: it pools connections."""

    # -- assets ----------------------------------------------------------------------------------

    def upload(
        self,
        open_stream: Callable[[], IO[bytes]],
        *,
        size: int,
        file_name: str,
        content_type: str,
        asset_type: AssetType,
        name: str | None = None,
    ) -> Asset:
        """Upload ``size`` bytes into sync. labs storage and register them as an asset.

        ``open_stream`` is called once per attempt and read in 1 MiB chunks, so memory stays flat
        whatever the size and a retried upload starts from the first byte.
        """
        ticket = UploadTicket.model_validate(
            self._json(
                "POST", "/v2/assets/upload", json={"fileName": file_name, "contentType": content_type, "size": size}
            )
        )

        def put() -> httpx.Response:
            with open_stream() as stream:
                return self._storage.put(
                    ticket.upload_url,
                    content=_chunks(stream),
                    headers={"content-type": content_type, "content-length": str(size)},
                )

        self._send(put, "PUT upload")
        body: dict[str, Any] = {"url": ticket.url, "type": asset_type}
        if name:
            body["name"] = name
        return Asset.model_validate(self._json("POST", "/v2/assets", json=body))

    def upload_file(self, path: str, *, content_type: str, asset_type: AssetType, name: str | None = None) -> Asset:
        return self.upload(
            lambda: open(path, "rb"),
            size=os.path.getsize(path),
            file_name=os.path.basename(path),
            content_type=content_type,
            asset_type=asset_type,
            name=name,
        )

    def get_asset(self, asset_id: str) -> Asset:
        return Asset.model_validate(self._json("GET", f"/v2/assets/{asset_id}"))

    def delete_asset(self, asset_id: str) -> None:
        self._call("DELETE", f"/v2/assets/{asset_id}")

    def list_assets(self, *, limit: int | None = None, cursor: str | None = None) -> tuple[list[Asset], str | None]:
        page = Page.model_validate(self._json("GET", "/v2/assets", params=_params(limit=limit, cursor=cursor)))
        return [Asset.model_validate(item) for item in page.items], page.next_cursor

    @contextmanager
    def open_download(self, url: str) -> Iterator[IO[bytes]]:
        """A readable stream of ``url`` (a storage or output URL, used verbatim, signature and all).

        Connecting is retried like any call; once bytes flow, an interruption surfaces as an
        ``httpx.HTTPError`` from ``read`` and the caller starts over.
        """

        def start() -> httpx.Response:
            response = self._storage.send(self._storage.build_request("GET", url), stream=True)
            if not response.is_success:
                response.read()
                response.close()
            return response

        response, _ = self._send(start, "GET download")
        try:
            yield reader(response)
        finally:
            response.close()

    def download(self, url: str, sink: IO[bytes]) -> int:
        """Stream ``url`` into ``sink``; return the byte count."""
        written = 0
        with self.open_download(url) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                written += sink.write(chunk) or len(chunk)
        return written

    # -- voices ----------------------------------------------------------------------------------

    def list_voices(self) -> list[Voice]:
        return _voices.validate_python(self._json("GET", "/v2/voices"))

    def get_voice(self, voice_id: str) -> Voice:
        return Voice.model_validate(self._json("GET", f"/v2/voices/{voice_id}"))

    def clone_voice(self, name: str, *, asset_id: str | None = None, url: str | None = None) -> Voice:
        """Clone a voice. A 409 after a retried attempt means the first attempt did land: return it.

        The clone is never lost: its id is read from ``voiceId`` or ``id``, and an answer with neither
        is looked up by its (unique) name in the list.
        """
        if (asset_id is None) == (url is None):
            raise ValueError("clone_voice needs exactly one of asset_id or url")
        body = {"name": name, "provider": "elevenlabs", **({"assetId": asset_id} if asset_id else {"url": url})}
        attempts = 0

        def post() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return self._api.post("/v2/voices", json=body)

        try:
            response, _ = self._send(post, "POST /v2/voices", no_retry_codes=frozenset({"voice_name_conflict"}))
        except SyncApiError as exc:
            if exc.error_code == "voice_name_conflict" and attempts > 1:
                for voice in self.list_voices():
                    if voice.name == name:
                        return voice
            raise
        try:
            cloned = ClonedVoice.model_validate(response.json()).voice()
        except (ValueError, ValidationError):
            cloned = Voice(name=name)
        if cloned.id is None:
            found = next((v for v in self.list_voices() if v.name == name and v.id), None)
            if found is None:
                raise SyncApiError(502, "voice_clone_unreadable", f"the clone {name!r} was made but names no id")
            return found
        return cloned

    def delete_voice(self, voice_id: str) -> bool:
        return bool(self._json("DELETE", f"/v2/voices/{voice_id}"))

    # -- text to speech --------------------------------------------------------------------------

    def start_tts(self, request: TtsRequest, *, shape: TtsShape = "auto", idempotency_key: str | None = None) -> TtsJob:
        """Start speech synthesis in whichever documented shape the org has.

        ``auto`` prefers the asynchronous ``/v2/tts/jobs`` and falls back to ``/v2/tts`` where jobs are
        not enabled (404, or a 503 that is not the provider being busy). The answer may be finished.
        """
        if shape in ("auto", "jobs"):
            headers = _idempotency(idempotency_key)
            try:
                data = self._json(
                    "POST",
                    "/v2/tts/jobs",
                    json=request.wire(),
                    headers=headers,
                    no_retry_codes=TTS_NOT_ENABLED_CODES if shape == "auto" else frozenset(),
                )
                return TtsJob.model_validate({**data, "endpoint": "jobs"})
            except SyncApiError as exc:
                if shape == "jobs" or not _tts_jobs_unavailable(exc):
                    raise
                log.info("TTS jobs are not enabled for this org; using /v2/tts")
        data = self._json("POST", "/v2/tts", json=request.wire())
        return TtsJob.model_validate({**data, "endpoint": "tts"})

    def get_tts(self, job: TtsJob) -> TtsJob:
        path = f"/v2/tts/jobs/{job.id}" if job.endpoint == "jobs" else f"/v2/tts/{job.id}"
        return TtsJob.model_validate({**self._json("GET", path), "endpoint": job.endpoint})

    def synthesize(
        self, request: TtsRequest, *, shape: TtsShape = "auto", poll_seconds: float = 1.0, timeout: float = 300.0
    ) -> TtsJob:
        """Start TTS and wait for the audio; raise SyncJobFailed if it fails."""
        job = self.start_tts(request, shape=shape)
        deadline = time.monotonic() + timeout
        while not job.finished:
            if time.monotonic() > deadline:
                raise SyncJobFailed("tts", job.id, job.status, "tts_timeout", f"not finished after {timeout:.0f}s")
            self._sleep(poll_seconds)
            job = self.get_tts(job)
        if not job.succeeded:
            raise SyncJobFailed("tts", job.id, job.status, job.error_code or "tts_failed", job.error)
        return job

    # -- generations -----------------------------------------------------------------------------

    def create_generation(
        self, request: GenerateRequest, *, idempotency_key: str | None = None, once: bool = False
    ) -> Generation:
        """Start a generation. With a key, retries reuse it (the API answers the original); a 503
        ``IDEMPOTENCY_OUTCOME_UNKNOWN`` naming a ``generationId`` is followed, not asked for again.
        ``once``: no retry (a head start that someone else makes sure of)."""
        try:
            return Generation.model_validate(
                self._json(
                    "POST",
                    "/v2/generate",
                    json=request.wire(),
                    headers=_idempotency(idempotency_key),
                    follow_codes=frozenset({OUTCOME_UNKNOWN}),
                    once=once,
                )
            )
        except SyncApiError as error:
            named = error.details.get("generationId")
            if error.error_code == OUTCOME_UNKNOWN and named:
                log.warning("the generation's creation was uncertain; following the one sync. labs named")
                return self.get_generation(str(named))
            raise

    def get_generation(self, generation_id: str, *, wait_seconds: int | None = None) -> Generation:
        """Read a generation; with ``wait_seconds`` (1-10) the API holds the answer until it changes."""
        params = None
        if wait_seconds is not None:
            params = {"wait": "true", "timeout": max(1, min(10, int(wait_seconds)))}
        return Generation.model_validate(self._json("GET", f"/v2/generate/{generation_id}", params=params))

    def wait_for_generation(self, generation_id: str, *, timeout: float = 600.0, wait_seconds: int = 10) -> Generation:
        deadline = time.monotonic() + timeout
        generation = self.get_generation(generation_id)
        while not generation.finished:
            if time.monotonic() > deadline:
                raise SyncJobFailed(
                    "generation",
                    generation_id,
                    generation.status,
                    "generation_timeout",
                    f"not finished after {timeout:.0f}s",
                )
            generation = self.get_generation(generation_id, wait_seconds=wait_seconds)
        return generation

    def list_generations(
        self,
        *,
        status: list[str] | None = None,
        ids: list[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> tuple[list[Generation], str | None]:
        """One page of generations and the cursor for the next (None at the end).

        The reference answers a bare array, whose next cursor is the last id seen (with ``limit``); an
        older page shape (``items``, ``nextCursor``) is read too.
        """
        params = _params(
            status=",".join(status) if status else None, ids=",".join(ids) if ids else None, limit=limit, cursor=cursor
        )
        data = self._json("GET", "/v2/generations", params=params)
        if isinstance(data, list):
            found = _generations.validate_python(data)
            more = limit is not None and len(found) == limit and bool(found)
            return found, found[-1].id if more else None
        page = Page.model_validate(data)
        return _generations.validate_python(page.items), page.next_cursor

    def delete_generation(self, generation_id: str) -> None:
        """A finished generation; a running one answers 409 ``generation_not_deletable_while_processing``."""
        self._call("DELETE", f"/v2/generations/{generation_id}")

    def estimate_cost(self, request: GenerateRequest) -> list[CostEstimate]:
        """Both documented answers: a list of estimates, or a single estimate object."""
        data = self._json("POST", "/v2/analyze/cost", json=request.wire())
        return _estimates.validate_python(data if isinstance(data, list) else [data])

    # -- batches ---------------------------------------------------------------------------------

    def create_batch(
        self, requests: list[BatchRequest], *, webhook_url: str | None = None, dry_run: bool = False
    ) -> Batch:
        """Submit generations as one batch (``multipart``: the ``.jsonl`` as ``input``). Sent once, never
        retried here: a batch is not idempotent, and a lost answer may still have created one (the caller
        looks for it with :meth:`list_batches`). Plans without the Batch API answer 402."""
        body = b"".join(request.jsonl() for request in requests)
        form = _params(webhook_url=webhook_url, dry_run="true" if dry_run else "false")
        response, _ = self._send(
            lambda: self._api.post("/v2/batch", files={"input": ("batch.jsonl", body, "application/jsonl")}, data=form),
            "POST /v2/batch",
            once=True,
        )
        return Batch.model_validate(response.json())

    def get_batch(self, batch_id: str) -> Batch:
        return Batch.model_validate(self._json("GET", f"/v2/batch/{batch_id}"))

    def list_batches(self, *, status: str | None = None, created_after: str | None = None) -> list[Batch]:
        """The org's batches, newest first."""
        data = self._json("GET", "/v2/batch", params=_params(status=status, created_after=created_after))
        return _batches.validate_python(data)

    def batch_results(self, batch: Batch) -> list[BatchResult]:
        """The ended batch's results, one row a request. Its ``outputUrl`` is the API's and redirects to a
        signed JSON Lines file: the key goes to the API only, the file is read through storage."""
        if not batch.output_url:
            return []
        url = str(batch.output_url)
        if url.startswith(self.base_url):
            answer, _ = self._send(lambda: self._api.get(url), "GET batch results", redirect=True)
            if answer.is_redirect:
                answer, _ = self._send(lambda: self._storage.get(answer.headers["location"]), "batch results file")
        else:
            answer, _ = self._send(lambda: self._storage.get(url), "batch results file")
        return [BatchResult.model_validate_json(line) for line in answer.text.splitlines() if line.strip()]

    # -- organisation ----------------------------------------------------------------------------

    def webhook_secret(self) -> str:
        return str(self._json("GET", "/v2/organizations/webhook/secret")["secret"])


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _idempotency(key: str | None) -> dict[str, str] | None:
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ValueError("Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-]")
    return {"Idempotency-Key": key}


def _tts_jobs_unavailable(error: SyncApiError) -> bool:
    return error.status_code == 404 or (error.status_code == 503 and error.error_code not in TTS_BUSY_CODES)
