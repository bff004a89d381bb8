"""Generations: lip-sync jobs that move PENDING -> PROCESSING -> COMPLETED (or FAILED, REJECTED) on timers
scaled by ``time_scale``, capped at the plan's concurrency, idempotent by ``Idempotency-Key``, with the
signed webhook on their end, the long poll, the list and the cost estimate.

Inputs are assets, storage URLs, or public URLs: a public URL is fetched when the generation runs, and one
that cannot be fetched ends it FAILED with ``generation_input_{video,audio}_inaccessible``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoice.sync.webhook import sign
from revoice_local import media
from revoice_local.emulator import rendering
from revoice_local.emulator.assets import page
from revoice_local.emulator.catalog import (
    DEFAULT_MODEL,
    DEFAULT_SYNC_MODE,
    MAX_SCRIPT_CHARS,
    MODELS,
    OUTPUT_FILE_NAME,
    PRICE_PER_SECOND,
    RUNNING,
    SYNC_MODES,
)
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.org import Emulator
from revoice_local.emulator.records import GenerationRecord
from revoice_local.emulator.tts import Speech

log = logging.getLogger("revoice.emulator")
DEFAULT_WAIT_SECONDS = 5.0
OUTPUT_TTL_SECONDS = 7 * 24 * 3600


class Generations:
    def __init__(self, org: Emulator, speech: Speech) -> None:
        self.org, self.speech = org, speech
        self._webhook_client: httpx.AsyncClient | None = None
        self._posted = asyncio.Event()  # set (and replaced) at each delivery, for a reordered one to wait on

    def _webhooks(self) -> httpx.AsyncClient:
        """One client for every delivery (a new one each time costs a TLS context)."""
        if self._webhook_client is None:
            self._webhook_client = httpx.AsyncClient(timeout=self.org.config.webhook_timeout)
        return self._webhook_client

    def routes(self) -> list[Route]:
        return [
            Route("/v2/generate", self.create, methods=["POST"]),
            Route("/v2/generate/{id}", self.get, methods=["GET"]),
            Route("/v2/generations", self.listed, methods=["GET"]),
            Route("/v2/generations/{id}", self.delete, methods=["DELETE"]),
            Route("/v2/analyze/cost", self.estimate_cost, methods=["POST"]),
        ]

    # -- the request -----------------------------------------------------------------------------

    def validated(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the video input, the audio or text input), or the documented refusal."""
        if body.get("model", DEFAULT_MODEL) not in MODELS:
            raise ApiError("generation_unsupported_model", f"model must be one of {', '.join(MODELS)}")
        problems = []
        options = body.get("options") or {}
        if not isinstance(options, dict) or options.get("sync_mode", DEFAULT_SYNC_MODE) not in SYNC_MODES:
            problems.append(f"options.sync_mode must be one of {', '.join(SYNC_MODES)}")
        name = body.get("outputFileName")
        if name is not None and (not isinstance(name, str) or not OUTPUT_FILE_NAME.match(name)):
            problems.append("outputFileName may hold only letters, digits, '_' and '-', up to 255 characters")
        hook = body.get("webhookUrl")
        if hook is not None and (not isinstance(hook, str) or urlsplit(hook).scheme not in ("http", "https")):
            problems.append("webhookUrl must be an http(s) URL")
        inputs = body.get("input")
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            raise ApiError("generation_input_validation_failed", ["input must be an array of input objects", *problems])
        videos = [item for item in inputs if item.get("type") == "video"]
        sounds = [item for item in inputs if item.get("type") in ("audio", "text")]
        if not videos:
            raise ApiError("generation_video_missing")
        if not sounds:
            raise ApiError("generation_audio_missing")
        if len(videos) != 1 or len(sounds) != 1 or len(inputs) != 2:
            problems.append("input must hold one video and one audio or text item")
        for item in (videos[0], sounds[0]):
            if item["type"] != "text" and ("url" in item) == ("assetId" in item):
                problems.append(f"a {item['type']} input needs exactly one of url or assetId")
        sound = sounds[0]
        if sound["type"] == "text":
            provider = sound.get("provider") or {}
            if provider.get("name") != "elevenlabs" or not isinstance(provider.get("voiceId"), str):
                problems.append("a text input needs provider.name elevenlabs and a voiceId")
            elif not isinstance(provider.get("script"), str) or not provider["script"]:
                problems.append("provider.script must be a non-empty string")
            elif len(provider["script"]) > MAX_SCRIPT_CHARS:
                raise ApiError("generation_text_length_exceeded")
            elif self.org.voice(provider["voiceId"]) is None:
                raise ApiError("voice_not_found", f"Voice {provider['voiceId']} does not exist", status=422)
        if problems:
            raise ApiError("generation_input_validation_failed", problems, field="input")
        return videos[0], sound

    def media(self, item: dict[str, Any]) -> Path | str:
        """The input's file in org storage, or the public URL to fetch when the generation runs."""
        if "assetId" in item:
            with self.org.lock:
                asset = self.org.assets.get(str(item["assetId"]))
            if asset is None:
                raise ApiError("asset_not_found", f"Asset {item['assetId']} does not exist")
            url = str(asset["url"])
        else:
            url = str(item["url"])
        return self.org.resolve_storage_url(url) if self.org.in_storage(url) else url

    async def create(self, request: Request) -> Response:
        org = self.org
        body = await org.json_body(request)
        seen, digest = org.idempotent("generate", request, body)
        if seen is not None:
            return JSONResponse(org.generations[seen].public(), status_code=200)
        with org.making("generate", request):
            record = await self._created(request, body)
        org.remember("generate", request, digest, record.id)
        org.spawn(self.run(record))
        uncertain = org.faults.take_kind("POST /v2/generate", "outcome_unknown")
        if uncertain is not None:  # created, but the answer says it may not have been
            raise ApiError(
                "IDEMPOTENCY_OUTCOME_UNKNOWN", generationId=record.id if uncertain.names_generation else None
            )
        return JSONResponse(record.public(), status_code=201)

    async def _created(self, request: Request, body: dict[str, Any]) -> GenerationRecord:
        """The generation the body asks for, in flight; or the error the API answers instead."""
        org = self.org
        org.rate("generate", org.config.generate_per_minute, 60)
        video_item, sound_item = self.validated(body)
        video = self.media(video_item)
        audio = self.media(sound_item) if sound_item["type"] == "audio" else None
        if isinstance(video, Path):
            await self._check_length(video)
        org.use_monthly("generations", org.config.limits.monthly_generations)
        with org.lock:
            active, cap = org.in_flight(), org.config.limits.concurrency
            if active >= cap:
                wait = org.config.scaled(org.config.processing_seconds / 2)
                raise ApiError(
                    "concurrency_limit_reached",
                    f"{active} generations are running; this plan allows {cap}",
                    headers={"Retry-After": str(max(1, round(wait)))},
                    activeGenerations=active,
                    concurrencyLimit=cap,
                    retryAfterSeconds=round(wait, 3),
                )
            record = GenerationRecord(
                id=str(uuid.uuid4()),
                body=body,
                video=video if isinstance(video, Path) else None,
                audio=audio if isinstance(audio, Path) else None,
                text=sound_item.get("provider") if sound_item["type"] == "text" else None,
                remote={k: v for k, v in (("video", video), ("audio", audio)) if isinstance(v, str)},
                idempotency_key=request.headers.get("idempotency-key"),
            )
            org.generations[record.id] = record
            org.max_in_flight = max(org.max_in_flight, org.in_flight())
        return record

    async def _check_length(self, video: Path) -> None:
        info = await asyncio.to_thread(media.probe, video, video.suffix)
        if info is None:
            raise ApiError("generation_media_metadata_missing")
        limit = self.org.config.limits.max_video_seconds
        if info.duration > limit:
            raise ApiError(
                "generation_plan_duration_exceeded", f"The video is {info.duration:.0f}s; this plan allows {limit:.0f}s"
            )

    # -- the job ---------------------------------------------------------------------------------

    def _advance(self, record: GenerationRecord, status: str, **changes: Any) -> None:
        record.status = status
        if status not in RUNNING:
            record.finished_at = time.time()
            record.progress = 100 if status == "COMPLETED" else record.progress
        for key, value in changes.items():
            setattr(record, key, value)
        record.changed.set()
        record.changed = asyncio.Event()

    async def run(self, record: GenerationRecord) -> None:
        config, faults = self.org.config, self.org.faults
        await asyncio.sleep(config.scaled(config.pending_seconds))
        if faults.take_kind("generation", "reject") is not None:
            self._advance(record, "REJECTED", error="The input was rejected by moderation")
            await self._deliver(record)
            return
        self._advance(record, "PROCESSING", progress=10)
        if not await self._fetch_remote(record):
            await self._deliver(record)
            return
        # The render is part of the processing time, not added to it (T stays what was configured).
        rendering = asyncio.ensure_future(asyncio.to_thread(self._render, record))
        await asyncio.sleep(config.scaled(config.processing_seconds))
        fault = faults.take_kind("generation", "fail")
        if fault is not None:
            await asyncio.gather(rendering, return_exceptions=True)  # its output is never handed out
            self._advance(
                record,
                "FAILED",
                error="The generation failed while processing",
                error_code=fault.error_code or "internal_error",
            )
        else:
            try:
                self._advance(record, "COMPLETED", **await rendering)
            except Exception as exc:  # media the emulator cannot read: the API's own answer for it
                log.warning("generation %s failed: %s", record.id, exc)
                self._advance(
                    record,
                    "FAILED",
                    error=f"Could not process the inputs: {exc}",
                    error_code="generation_media_metadata_missing",
                )
        await self._deliver(record)

    async def _fetch_remote(self, record: GenerationRecord) -> bool:
        """Download public URL inputs; a failure ends the generation FAILED (False)."""
        for kind, url in record.remote.items():
            key = f"uploads/remote-{record.id}/{kind}{Path(urlsplit(url).path).suffix or '.bin'}"
            try:
                async with httpx.AsyncClient(timeout=10, follow_redirects=True) as client:
                    answer = await client.get(url)
                    answer.raise_for_status()
            except httpx.HTTPError as exc:
                self._advance(
                    record,
                    "FAILED",
                    error=f"The {kind} input {url} could not be downloaded ({type(exc).__name__})",
                    error_code=f"generation_input_{kind}_inaccessible",
                )
                return False
            self.org.store_path(key).write_bytes(answer.content)
            setattr(record, kind, self.org.stored(key))
        return True

    def _render(self, record: GenerationRecord) -> dict[str, Any]:
        audio = record.audio
        changes: dict[str, Any] = {}
        if record.text is not None:
            url, _ = self.speech.render(record.id, record.text["script"], record.text["voiceId"])
            audio = self.org.resolve_storage_url(url)
            changes["synthesized_audio_url"] = url
        assert audio is not None
        assert record.video is not None
        name = record.body.get("outputFileName") or record.id
        key = f"outputs/{record.id}/{name}.mp4"
        mode = (record.body.get("options") or {}).get("sync_mode", DEFAULT_SYNC_MODE)
        duration = rendering.processes.lipsync(record.video, audio, self.org.store_path(key), mode)
        self.org.stored(key)
        changes.update(output_url=self.org.signed(key, OUTPUT_TTL_SECONDS), output_duration=duration)
        return changes

    async def _deliver(self, record: GenerationRecord) -> None:
        """POST the signed webhook (compact JSON) for COMPLETED and FAILED, as the reference lists them."""
        org, faults = self.org, self.org.faults
        url = record.body.get("webhookUrl")
        if not url or (record.status == "REJECTED" and not org.config.webhook_on_rejected):
            return
        if faults.take_kind("webhook", "webhook_lost") is not None:
            org.webhook_log.append(
                {"generation": record.id, "status": record.status, "delivered": False, "fault": "lost"}
            )
            return
        copies = 2 if faults.take_kind("webhook", "webhook_duplicate") is not None else 1
        late = faults.take("webhook", {"webhook_delay", "webhook_reorder"})
        if late is not None and late.kind == "webhook_reorder":
            await self._overtaken(late.delay)
        elif late is not None:
            await asyncio.sleep(late.delay)
        for _ in range(copies):
            await self.post_signed(url, record.webhook(), {"generation": record.id, "status": record.status})

    async def _overtaken(self, at_most: float) -> None:
        """Until a later delivery has been posted (or ``at_most`` seconds): the reorder then happens
        however long the later generation takes, not only when it ends within a fixed delay."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._posted.wait(), timeout=at_most)

    async def post_signed(self, url: str, document: dict[str, Any], entry: dict[str, Any]) -> None:
        """POST ``document`` as compact JSON signed with the org's webhook secret; log how it went."""
        body = json.dumps(document, separators=(",", ":")).encode()
        entry = {**entry, "delivered": False}
        try:
            answer = await self._webhooks().post(
                url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "Sync-Signature": sign(body, self.org.config.webhook_secret),
                },
            )
            entry.update(delivered=answer.is_success, answer=answer.status_code)
        except httpx.HTTPError as exc:
            entry["error"] = type(exc).__name__
        self.org.webhook_log.append(entry)
        self._posted.set()
        self._posted = asyncio.Event()

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, request: Request) -> Response:
        """The generation; ``wait=true`` holds the answer until it changes or ``timeout`` (1-10 s) passes."""
        record = self._generation(request)
        waited, changed = 0.0, False
        if request.query_params.get("wait") == "true":
            raw = request.query_params.get("timeout", str(DEFAULT_WAIT_SECONDS))
            try:
                timeout = float(raw)
            except ValueError:
                timeout = -1.0
            if not 1 <= timeout <= 10:
                raise ApiError.invalid("timeout must be a number of seconds from 1 to 10")
            if record.status in RUNNING:
                started = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(record.changed.wait(), timeout=timeout)
                    changed = True
                waited = time.monotonic() - started
        headers = {"X-Sync-Wait-Seconds": f"{waited:.3f}", "X-Sync-Wait-Changed": str(changed).lower()}
        if record.status in RUNNING:
            headers["Retry-After"] = "2"
        progress = "progress" in request.query_params.get("include", "").split(",")
        return JSONResponse(record.public(progress=progress), headers=headers)

    def _generation(self, request: Request) -> GenerationRecord:
        with self.org.lock:
            record = self.org.generations.get(request.path_params["id"])
        if record is None:
            raise ApiError("generation_not_found", f"Generation {request.path_params['id']} does not exist")
        return record

    async def delete(self, request: Request) -> Response:
        record = self._generation(request)
        if record.status in RUNNING:
            raise ApiError("generation_not_deletable_while_processing")
        with self.org.lock:
            self.org.generations.pop(record.id, None)
        return JSONResponse(record.public())

    async def listed(self, request: Request) -> Response:
        """A bare array (filters ``status``, ``ids``, ``projectId``; ``cursor`` is the last id seen, with
        ``limit``), or the older page shape with ``generations_list_shape: page``."""
        query = request.query_params
        statuses = set(filter(None, query.get("status", "").split(",")))
        ids = set(filter(None, query.get("ids", "").split(",")))
        project = query.get("projectId")
        with self.org.lock:
            records = [
                g
                for g in self.org.generations.values()
                if (not statuses or g.status in statuses)
                and (not ids or g.id in ids)
                and (project is None or g.body.get("projectId") == project)
            ]
        items = [g.public() for g in records]
        if self.org.config.generations_list_shape == "page":
            return JSONResponse(page(items, request))
        cursor, raw_limit = query.get("cursor"), query.get("limit")
        if cursor is not None and raw_limit is None:
            raise ApiError.invalid("cursor needs limit")
        if cursor is not None:
            seen = [item["id"] for item in items]
            if cursor not in seen:
                raise ApiError.invalid("cursor must be the id of a generation of the previous page")
            items = items[seen.index(cursor) + 1 :]
        if raw_limit is not None:
            if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
                raise ApiError.invalid("limit must be 1-100")
            items = items[: int(raw_limit)]
        return JSONResponse(items)

    async def estimate_cost(self, request: Request) -> Response:
        body = await self.org.json_body(request)
        video_item, _ = self.validated(body)
        video = self.media(video_item)
        info = await asyncio.to_thread(media.probe, video, video.suffix) if isinstance(video, Path) else None
        seconds = info.duration if info else 0.0
        estimate = {
            "estimatedFrameCount": round(seconds * media.FPS),
            "estimatedGenerationCost": round(seconds * PRICE_PER_SECOND[body.get("model", "lipsync-2")], 4),
        }
        return JSONResponse([estimate] if self.org.config.cost_shape == "list" else estimate)
