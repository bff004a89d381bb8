"""The sync. labs v2 API, emulated over real HTTP (Starlette), point by point from ``sync-api.md``.

State lives in memory (files on a scratch disk); one event loop serves every client, media work runs
in worker threads. Generations advance PENDING -> PROCESSING -> a terminal state on timers scaled by
``time_scale``; finished ones are signed and POSTed to their ``webhookUrl``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from revoice.sync.webhook import sign
from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig, FaultRule
from revoice_local.emulator.faults import HTTP_KINDS, FaultBook

log = logging.getLogger("revoice.emulator")
MODELS = ("lipsync-2", "lipsync-2-pro", "sync-3", "lipsync-1.9.0-beta", "react-1")
SYNC_MODES = ("bounce", "loop", "cut_off", "silence", "remap")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
OUTPUT_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
RUNNING = ("PENDING", "PROCESSING")
PRICE_PER_SECOND = {
    "lipsync-2": 0.05,
    "lipsync-2-pro": 0.083,
    "sync-3": 0.133,
    "lipsync-1.9.0-beta": 0.04,
    "react-1": 0.1,
}
BUILTIN_VOICES = [
    {
        "id": "builtin-rachel",
        "name": "Rachel",
        "provider": "elevenlabs",
        "voiceId": "21m00Tcm4TlvDq8ikWAM",
        "previewUrl": None,
        "restriction": "builtin",
    },
    {
        "id": "builtin-adam",
        "name": "Adam",
        "provider": "elevenlabs",
        "voiceId": "pNInz6obpgDQGcFmaJgB",
        "previewUrl": None,
        "restriction": "builtin",
    },
    {
        "id": "builtin-bella",
        "name": "Bella",
        "provider": "elevenlabs",
        "voiceId": "EXAVITQu4vr4xnSDxMaL",
        "previewUrl": None,
        "restriction": "builtin",
    },
]


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str | list[str], headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers or {}, extra
        super().__init__(code)


class DroppedConnection(Exception):
    """Raised after a partial answer so the server closes the connection mid-body."""


def error_response(
    status: int, code: str, message: str | list[str], headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"statusCode": status, "errorCode": code, "message": message, "error": HTTPStatus(status).phrase}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Ticket:
    token: str
    key: str
    content_type: str
    size: int
    expires: float


@dataclass
class GenerationRecord:
    id: str
    body: dict[str, Any]
    video: Path
    audio: Path | None
    text: dict[str, Any] | None
    created_at: str = field(default_factory=now_iso)
    status: str = "PENDING"
    output_url: str | None = None
    output_duration: float | None = None
    error: str | None = None
    error_code: str | None = None
    synthesized_audio_url: str | None = None
    finished_at: float | None = None  # wall clock, for latency measurements (not part of the API)
    idempotency_key: str | None = None  # who asked for it, for duplicate counting (not part of the API)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self, *, webhook: bool = False) -> dict[str, Any]:
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
            ("error_code" if webhook else "errorCode"): self.error_code,
        }
        if self.text is not None:
            data["synthesizedAudioUrl"] = self.synthesized_audio_url
        return data


class Emulator:
    """One sync. labs organisation. ``base_url`` is set by the server once it knows its port."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultBook(self.config.faults)
        self._own_dir = self.config.data_dir is None
        self.data_dir = self.config.data_dir or Path(tempfile.mkdtemp(prefix="revoice-emulator-"))
        self.base_url = self.config.public_url or "http://127.0.0.1"
        self._lock = threading.RLock()
        self._signing_key = uuid.uuid4().hex.encode()
        self.files: dict[str, Path] = {}
        self.tickets: dict[str, Ticket] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.voices: dict[str, dict[str, Any]] = {}
        self.tts_jobs: dict[str, dict[str, Any]] = {}
        self.generations: dict[str, GenerationRecord] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        self._windows: dict[str, deque[float]] = {}
        self._clone_busy_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.webhook_log: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self.requests = 0
        self.errors_answered: Counter[str] = Counter()  # by errorCode, the emulated API's own refusals
        self.app = FaultsAndAuth(self._routes(), self)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rate(self, group: str, limit: int, window: float) -> None:
        """Count a request against ``group``; raise 429 rate_limit_exceeded past ``limit`` per ``window``."""
        window = self.config.scaled(window)
        now = time.monotonic()
        with self._lock:
            hits = self._windows.setdefault(group, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                wait = hits[0] + window - now
                raise ApiError(
                    429,
                    "rate_limit_exceeded",
                    f"Too many requests to {group}; slow down",
                    headers={"Retry-After": str(max(1, round(wait)))},
                    retryAfterSeconds=round(wait, 3),
                )
            hits.append(now)

    @staticmethod
    def builtin_voices() -> list[dict[str, Any]]:
        return list(BUILTIN_VOICES)

    def cloning(self) -> bool:
        """A clone is being made right now (the next one would get voice_clone_busy)."""
        return time.monotonic() < self._clone_busy_until

    def in_flight(self) -> int:
        return sum(1 for g in self.generations.values() if g.status in RUNNING)

    def _store_path(self, key: str) -> Path:
        path = self.data_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def storage_url(self, key: str) -> str:
        return f"{self.base_url}/{quote(key)}"

    def _signed(self, key: str, ttl: float) -> str:
        expires = int(time.time() + ttl)
        signature = hmac.new(self._signing_key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.storage_url(key)}?expires={expires}&signature={signature}"

    def _check_signed(self, key: str, request: Request) -> bool:
        expires, signature = request.query_params.get("expires", ""), request.query_params.get("signature", "")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        expected = hmac.new(self._signing_key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def resolve_storage_url(self, url: str) -> Path:
        """A file in this org's storage, or the documented error for a URL that is not one."""
        if not url.startswith(self.base_url + "/"):
            raise ApiError(400, "file_not_in_org_storage", "The URL is not in sync. labs storage; upload it first")
        key = unquote(urlsplit(url).path).lstrip("/")
        with self._lock:
            path = self.files.get(key)
        if path is None or not path.exists():
            raise ApiError(404, "uploaded_file_not_found", "No uploaded file at that URL; finish the upload first")
        return path

    def _resolve_media(self, item: dict[str, Any]) -> Path:
        if ("url" in item) == ("assetId" in item):
            raise ApiError(
                400,
                "validation_error",
                f"a {item.get('type')} input needs exactly one of url or assetId",
                field="input",
            )
        if "assetId" in item:
            with self._lock:
                asset = self.assets.get(str(item["assetId"]))
            if asset is None:
                raise ApiError(404, "asset_not_found", f"Asset {item['assetId']} does not exist")
            return self.resolve_storage_url(asset["url"])
        return self.resolve_storage_url(str(item["url"]))

    def _voice_exists(self, voice_id: str) -> bool:
        return voice_id in self.voices or any(v["id"] == voice_id for v in BUILTIN_VOICES)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise ApiError(400, "validation_error", "The body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "validation_error", "The body must be a JSON object")
        return body

    def _idempotent(self, scope: str, request: Request, body: dict[str, Any]) -> tuple[str | None, str]:
        """(the id an earlier identical request created, or None; the key's body hash)."""
        key = request.headers.get("idempotency-key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is None:
            return None, digest
        if not IDEMPOTENCY_KEY.match(key):
            raise ApiError(
                400,
                "validation_error",
                "Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-]",
                field="Idempotency-Key",
            )
        with self._lock:
            seen = self._idempotency.get((scope, key))
        if seen is None:
            return None, digest
        if seen[0] != digest:
            raise ApiError(409, "idempotency_key_conflict", "This Idempotency-Key was used with a different body")
        return seen[1], digest

    def _remember(self, scope: str, request: Request, digest: str, created: str) -> None:
        key = request.headers.get("idempotency-key")
        if key is not None:
            with self._lock:
                self._idempotency[(scope, key)] = (digest, created)

    # -- routes ----------------------------------------------------------------------------------

    def _routes(self) -> Starlette:
        routes = [
            Route("/health", self.health),
            Route("/v2/assets/upload", self.create_upload, methods=["POST"]),
            Route("/v2/assets", self.register_asset, methods=["POST"]),
            Route("/v2/assets", self.list_assets, methods=["GET"]),
            Route("/v2/assets/{id}", self.get_asset, methods=["GET"]),
            Route("/v2/assets/{id}", self.delete_asset, methods=["DELETE"]),
            Route("/v2/voices", self.list_voices, methods=["GET"]),
            Route("/v2/voices", self.clone_voice, methods=["POST"]),
            Route("/v2/voices/{id}", self.delete_voice, methods=["DELETE"]),
            Route("/v2/tts/jobs", self.create_tts_job, methods=["POST"]),
            Route("/v2/tts/jobs/{id}", self.get_tts_job, methods=["GET"]),
            Route("/v2/tts", self.create_tts, methods=["POST"]),
            Route("/v2/tts/{id}", self.get_tts, methods=["GET"]),
            Route("/v2/generate", self.create_generation, methods=["POST"]),
            Route("/v2/generate/{id}", self.get_generation, methods=["GET"]),
            Route("/v2/generate/{id}", self.delete_generation, methods=["DELETE"]),
            Route("/v2/generations", self.list_generations, methods=["GET"]),
            Route("/v2/analyze/cost", self.estimate_cost, methods=["POST"]),
            Route("/v2/organizations/webhook/secret", self.webhook_secret, methods=["GET"]),
            Route("/_storage/upload/{token}", self.put_upload, methods=["PUT"]),
            Route("/uploads/{path:path}", self.get_upload, methods=["GET"]),
            Route("/outputs/{path:path}", self.get_output, methods=["GET"]),
            Route("/_emulator/state", self.state, methods=["GET"]),
            Route("/_emulator/faults", self.set_faults, methods=["POST"]),
        ]
        return Starlette(routes=routes, exception_handlers={ApiError: self._api_error})  # type: ignore[dict-item]

    async def _api_error(self, _: Request, exc: ApiError) -> Response:
        self.errors_answered[exc.code] += 1
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    async def health(self, _: Request) -> Response:
        return JSONResponse({"ok": True})

    # assets

    async def create_upload(self, request: Request) -> Response:
        self._rate("assets/upload", self.config.uploads_per_minute, 60)
        body = await self._json_body(request)
        name, content_type, size = body.get("fileName"), body.get("contentType"), body.get("size")
        problems = []
        if not isinstance(name, str) or not name.strip() or "/" in name:
            problems.append("fileName must be a file name")
        if not isinstance(content_type, str) or "/" not in content_type:
            problems.append("contentType must be a MIME type")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            problems.append("size must be a positive integer")
        if problems:
            raise ApiError(400, "validation_error", problems)
        assert isinstance(size, int)
        assert isinstance(name, str)
        assert isinstance(content_type, str)
        if size > self.config.max_upload_bytes:
            raise ApiError(
                413,
                "file_size_exceeds_plan_limit",
                f"{size} bytes is over this plan's {self.config.max_upload_bytes} byte limit",
            )
        token = uuid.uuid4().hex
        key = f"uploads/{uuid.uuid4()}/{name}"
        ttl = self.config.upload_url_ttl
        with self._lock:
            self.tickets[token] = Ticket(token, key, content_type, size, time.time() + ttl)
        return JSONResponse(
            {"uploadUrl": f"{self.base_url}/_storage/upload/{token}", "url": self.storage_url(key), "expiresIn": ttl},
            status_code=201,
        )

    async def put_upload(self, request: Request) -> Response:
        with self._lock:
            ticket = self.tickets.get(request.path_params["token"])
        if ticket is None:
            return Response("<Error><Code>NoSuchUpload</Code></Error>", 404, media_type="application/xml")
        if time.time() > ticket.expires:
            return Response(
                "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                403,
                media_type="application/xml",
            )
        if request.headers.get("content-type") != ticket.content_type:
            return Response(
                "<Error><Code>SignatureDoesNotMatch</Code><Message>Content-Type differs from the one "
                "declared</Message></Error>",
                403,
                media_type="application/xml",
            )
        path = self._store_path(ticket.key)
        received = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > ticket.size:
                    break
                out.write(chunk)
        if received != ticket.size:
            path.unlink(missing_ok=True)
            return Response(
                f"<Error><Code>IncompleteBody</Code><Message>got {received} bytes, declared "
                f"{ticket.size}</Message></Error>",
                400,
                media_type="application/xml",
            )
        with self._lock:
            self.files[ticket.key] = path
            self.tickets.pop(ticket.token, None)
        return Response(status_code=200, headers={"ETag": f'"{uuid.uuid4().hex}"'})

    async def get_upload(self, request: Request) -> Response:
        key = "uploads/" + request.path_params["path"]
        with self._lock:
            path = self.files.get(key)
        if path is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        return FileResponse(path)

    async def get_output(self, request: Request) -> Response:
        key = "outputs/" + request.path_params["path"]
        with self._lock:
            path = self.files.get(key)
        if path is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        if not self._check_signed(key, request):
            return Response("<Error><Code>AccessDenied</Code></Error>", 403, media_type="application/xml")
        return FileResponse(path, media_type="video/mp4")

    async def register_asset(self, request: Request) -> Response:
        body = await self._json_body(request)
        kind = body.get("type")
        if kind not in ("VIDEO", "AUDIO", "IMAGE"):
            raise ApiError(400, "validation_error", "type must be one of VIDEO, AUDIO, IMAGE", field="type")
        if not isinstance(body.get("url"), str):
            raise ApiError(400, "validation_error", "url is required", field="url")
        path = self.resolve_storage_url(body["url"])
        info = await asyncio.to_thread(media.probe, path, path.suffix)
        stamp = now_iso()
        asset = {
            "id": str(uuid.uuid4()),
            "createdAt": stamp,
            "updatedAt": stamp,
            "type": kind,
            "visibility": body.get("visibility", "PRIVATE"),
            "name": body.get("name") or path.name,
            "url": body["url"],
            "size": path.stat().st_size,
            "format": info.format if info else path.suffix.lstrip(".").lower() or None,
        }
        if info is not None:
            asset["durationSeconds"] = info.duration
            if info.has_video:
                asset["width"], asset["height"] = info.width, info.height
        with self._lock:
            self.assets[asset["id"]] = asset
        return JSONResponse(asset, status_code=201)

    async def get_asset(self, request: Request) -> Response:
        with self._lock:
            asset = self.assets.get(request.path_params["id"])
        if asset is None:
            raise ApiError(404, "asset_not_found", f"Asset {request.path_params['id']} does not exist")
        return JSONResponse(asset)

    async def delete_asset(self, request: Request) -> Response:
        with self._lock:
            asset = self.assets.pop(request.path_params["id"], None)
        if asset is None:
            raise ApiError(404, "asset_not_found", f"Asset {request.path_params['id']} does not exist")
        return JSONResponse(asset)

    async def list_assets(self, request: Request) -> Response:
        with self._lock:
            items = list(self.assets.values())
        return JSONResponse(_page(items, request))

    # voices

    async def list_voices(self, _: Request) -> Response:
        with self._lock:
            clones = list(self.voices.values())
        return JSONResponse(BUILTIN_VOICES + clones)

    async def clone_voice(self, request: Request) -> Response:
        body = await self._json_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "validation_error", "name is required", field="name")
        if ("assetId" in body) == ("url" in body):
            raise ApiError(400, "validation_error", "Provide exactly one of url or assetId", field="assetId")
        if body.get("provider", "elevenlabs") != "elevenlabs":
            raise ApiError(400, "validation_error", "provider must be elevenlabs", field="provider")
        if self.cloning():
            raise ApiError(
                429,
                "voice_clone_busy",
                "Another clone is being made; retry shortly",
                headers={"Retry-After": "1"},
                retryAfterSeconds=round(self.config.scaled(1.0), 3),
            )
        with self._lock:
            if any(v["name"] == name for v in self.voices.values()):
                raise ApiError(409, "voice_name_conflict", f"A voice named {name!r} already exists")
            if len(self.voices) >= self.config.limits.clone_slots:
                raise ApiError(
                    403,
                    "voice_clone_limit_reached",
                    f"All {self.config.limits.clone_slots} clone slots are in use",
                    suggestion="Delete a voice you no longer need with DELETE /v2/voices/{id}, then retry",
                )
        try:
            if "assetId" in body:
                with self._lock:
                    asset = self.assets.get(str(body["assetId"]))
                if asset is None:
                    raise ApiError(
                        422, "voice_sample_upload_required", "Upload the sample with /v2/assets/upload first"
                    )
                path = self.resolve_storage_url(asset["url"])
            else:
                path = self.resolve_storage_url(str(body["url"]))
        except ApiError as exc:
            if exc.status == 422:
                raise
            raise ApiError(
                422,
                "voice_sample_upload_required",
                "The sample must be in sync. labs storage: upload it with /v2/assets/upload",
            ) from exc
        self._rate("voices/clone", self.config.clones_per_hour, 3600)
        info = await asyncio.to_thread(media.probe, path, path.suffix)
        if info is not None and info.has_video and path.stat().st_size > self.config.max_voice_video_bytes:
            raise ApiError(413, "voice_sample_source_too_large", "Video samples must be 1 GiB or smaller")
        if info is None or not info.has_audio:
            raise ApiError(400, "voice_sample_invalid", "The sample has no audio track that can be read")
        if info.duration < self.config.min_sample_seconds:
            raise ApiError(
                400,
                "voice_sample_too_short",
                f"The sample has {info.duration:.1f}s of audio; {self.config.min_sample_seconds:.1f}s needed",
            )
        busy = self.config.scaled(self.config.clone_seconds)
        self._clone_busy_until = time.monotonic() + busy
        await asyncio.sleep(busy)
        self._clone_busy_until = 0.0
        voice_id = str(uuid.uuid4())
        voice = {
            "id": voice_id,
            "name": name,
            "provider": "elevenlabs",
            "internalVoiceId": uuid.uuid4().hex[:20],
            "previewUrl": None,
        }
        with self._lock:
            if any(v["name"] == name for v in self.voices.values()):
                raise ApiError(409, "voice_name_conflict", f"A voice named {name!r} already exists")
            if len(self.voices) >= self.config.limits.clone_slots:
                raise ApiError(403, "voice_clone_limit_reached", "All clone slots are in use")
            self.voices[voice_id] = voice
        return JSONResponse(voice, status_code=201)

    async def delete_voice(self, request: Request) -> Response:
        with self._lock:
            voice = self.voices.pop(request.path_params["id"], None)
        if voice is None:
            raise ApiError(404, "voice_not_found", f"Voice {request.path_params['id']} does not exist")
        return JSONResponse(True)

    # text to speech

    def _tts_body(self, body: dict[str, Any]) -> tuple[str, str]:
        script, voice_id = body.get("script"), body.get("voiceId")
        if not isinstance(script, str) or not 1 <= len(script) <= 5000:
            raise ApiError(400, "validation_error", "script must be 1-5000 characters", field="script")
        if not isinstance(voice_id, str) or not voice_id:
            raise ApiError(400, "validation_error", "voiceId is required", field="voiceId")
        if body.get("provider", "elevenlabs") != "elevenlabs":
            raise ApiError(400, "validation_error", "provider must be elevenlabs", field="provider")
        with self._lock:
            if not self._voice_exists(voice_id):
                raise ApiError(422, "voice_not_found", f"Voice {voice_id} does not exist")
        return script, voice_id

    def _render_speech(self, job_id: str, script: str, voice_id: str) -> tuple[str, float]:
        key = f"uploads/tts-{job_id}/{job_id}.wav"
        samples = media.synthesize_speech(script, media.voice_pitch(voice_id))
        media.write_wav(self._store_path(key), samples)
        with self._lock:
            self.files[key] = self.data_dir / key
        return self.storage_url(key), round(len(samples) / media.SPEECH_RATE, 3)

    async def create_tts(self, request: Request) -> Response:
        self._rate("tts", self.config.tts_per_minute, 60)
        script, voice_id = self._tts_body(await self._json_body(request))
        job_id = str(uuid.uuid4())
        if self.config.tts_shape == "sync":
            url, duration = await asyncio.to_thread(self._render_speech, job_id, script, voice_id)
            return JSONResponse({"id": job_id, "url": url, "duration": duration})
        job = self._new_tts_job(job_id, script, voice_id)
        return JSONResponse(self._seed_view(job), status_code=201)

    async def get_tts(self, request: Request) -> Response:
        return JSONResponse(self._seed_view(self._tts_job(request)))

    async def create_tts_job(self, request: Request) -> Response:
        if not self.config.tts_jobs_enabled:
            raise ApiError(503, "tts_jobs_not_enabled", "Asynchronous TTS is not enabled for this organization")
        body = await self._json_body(request)
        seen, digest = self._idempotent("tts", request, body)
        if seen is not None:
            return JSONResponse(self._jobs_view(self.tts_jobs[seen]), status_code=202)
        self._rate("tts", self.config.tts_per_minute, 60)
        script, voice_id = self._tts_body(body)
        job = self._new_tts_job(str(uuid.uuid4()), script, voice_id)
        self._remember("tts", request, digest, job["id"])
        return JSONResponse(
            self._jobs_view(job), status_code=202, headers={"Location": f"/v2/tts/jobs/{job['id']}", "Retry-After": "3"}
        )

    async def get_tts_job(self, request: Request) -> Response:
        job = self._tts_job(request)
        headers = {"Retry-After": "3"} if job["status"] in RUNNING else None
        return JSONResponse(self._jobs_view(job), headers=headers)

    def _tts_job(self, request: Request) -> dict[str, Any]:
        with self._lock:
            job = self.tts_jobs.get(request.path_params["id"])
        if job is None:
            raise ApiError(404, "tts_job_not_found", f"TTS job {request.path_params['id']} does not exist")
        return job

    def _new_tts_job(self, job_id: str, script: str, voice_id: str) -> dict[str, Any]:
        job = {
            "id": job_id,
            "status": "PENDING",
            "url": None,
            "duration": None,
            "error": None,
            "errorCode": None,
            "createdAt": now_iso(),
            "startedAt": None,
            "finishedAt": None,
        }
        with self._lock:
            self.tts_jobs[job_id] = job
        self._spawn(self._run_tts(job, script, voice_id))
        return job

    async def _run_tts(self, job: dict[str, Any], script: str, voice_id: str) -> None:
        await asyncio.sleep(self.config.scaled(self.config.tts_seconds) / 3)
        job.update(status="PROCESSING", startedAt=now_iso())
        await asyncio.sleep(self.config.scaled(self.config.tts_seconds) * 2 / 3)
        fault = self.faults.take_kind("tts", "fail")
        if fault is not None:
            code = fault.error_code or "tts_failed"
            job.update(
                status="FAILED",
                error=f"Speech synthesis failed ({code})",
                errorCode=code,
                finishedAt=now_iso(),
            )
            return
        url, duration = await asyncio.to_thread(self._render_speech, job["id"], script, voice_id)
        job.update(status="SUCCESS", url=url, duration=duration, finishedAt=now_iso())

    @staticmethod
    def _jobs_view(job: dict[str, Any]) -> dict[str, Any]:
        return {k: job[k] for k in ("id", "status", "url", "duration", "error", "createdAt", "startedAt", "finishedAt")}

    @staticmethod
    def _seed_view(job: dict[str, Any]) -> dict[str, Any]:
        status = "COMPLETED" if job["status"] == "SUCCESS" else job["status"]
        return {
            "id": job["id"],
            "status": status,
            "synthesizedAudioUrl": job["url"],
            "duration": job["duration"],
            "error": job["error"],
            "errorCode": job["errorCode"],
            "createdAt": job["createdAt"],
        }

    # generations

    async def _validated_generation(self, body: dict[str, Any]) -> tuple[Path, Path | None, dict[str, Any] | None]:
        problems = []
        if body.get("model", "lipsync-2") not in MODELS:
            problems.append(f"model must be one of {', '.join(MODELS)}")
        options = body.get("options") or {}
        if not isinstance(options, dict) or options.get("sync_mode", "bounce") not in SYNC_MODES:
            problems.append(f"options.sync_mode must be one of {', '.join(SYNC_MODES)}")
        name = body.get("outputFileName")
        if name is not None and (not isinstance(name, str) or not OUTPUT_FILE_NAME.match(name)):
            problems.append("outputFileName may hold only letters, digits, '_' and '-', up to 255 characters")
        hook = body.get("webhookUrl")
        if hook is not None and (not isinstance(hook, str) or urlsplit(hook).scheme not in ("http", "https")):
            problems.append("webhookUrl must be an http(s) URL")
        inputs = body.get("input")
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            problems.append("input must be an array of input objects")
            inputs = []
        videos = [item for item in inputs if item.get("type") == "video"]
        sounds = [item for item in inputs if item.get("type") in ("audio", "text")]
        if len(videos) != 1 or len(sounds) != 1 or len(inputs) != 2:
            problems.append("input must hold one video and one audio or text item")
        if problems:
            raise ApiError(400, "validation_error", problems, field="input" if len(problems) == 1 else None)
        video = self._resolve_media(videos[0])
        sound = sounds[0]
        if sound["type"] == "audio":
            return video, self._resolve_media(sound), None
        provider = sound.get("provider") or {}
        script = provider.get("script")
        if provider.get("name") != "elevenlabs" or not isinstance(provider.get("voiceId"), str):
            raise ApiError(
                400, "validation_error", "text input needs provider.name elevenlabs and a voiceId", field="input"
            )
        if not isinstance(script, str) or not 1 <= len(script) <= 5000:
            raise ApiError(400, "validation_error", "provider.script must be 1-5000 characters", field="input")
        with self._lock:
            if not self._voice_exists(provider["voiceId"]):
                raise ApiError(422, "voice_not_found", f"Voice {provider['voiceId']} does not exist")
        return video, None, provider

    async def create_generation(self, request: Request) -> Response:
        body = await self._json_body(request)
        seen, digest = self._idempotent("generate", request, body)
        if seen is not None:
            return JSONResponse(self.generations[seen].public(), status_code=200)
        self._rate("generate", self.config.generate_per_minute, 60)
        video, audio, text = await self._validated_generation(body)
        info = await asyncio.to_thread(media.probe, video, video.suffix)
        limit = self.config.limits.max_video_seconds
        if info is not None and info.duration > limit:
            raise ApiError(
                400,
                "generation_plan_duration_exceeded",
                f"The video is {info.duration:.0f}s; this plan allows {limit:.0f}s",
            )
        with self._lock:
            active = self.in_flight()
            cap = self.config.limits.concurrency
            if active >= cap:
                wait = self.config.scaled(self.config.processing_seconds / 2)
                raise ApiError(
                    429,
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
                video=video,
                audio=audio,
                text=text,
                idempotency_key=request.headers.get("idempotency-key"),
            )
            self.generations[record.id] = record
            self.max_in_flight = max(self.max_in_flight, self.in_flight())
        self._remember("generate", request, digest, record.id)
        self._spawn(self._run_generation(record))
        return JSONResponse(record.public(), status_code=201)

    def _advance(self, record: GenerationRecord, status: str, **changes: Any) -> None:
        record.status = status
        if status not in RUNNING:
            record.finished_at = time.time()
        for key, value in changes.items():
            setattr(record, key, value)
        record.changed.set()
        record.changed = asyncio.Event()

    async def _run_generation(self, record: GenerationRecord) -> None:
        await asyncio.sleep(self.config.scaled(self.config.pending_seconds))
        if self.faults.take_kind("generation", "reject") is not None:
            self._advance(
                record, "REJECTED", error="The input was rejected by moderation", error_code="generation_rejected"
            )
            await self._deliver(record)
            return
        self._advance(record, "PROCESSING")
        await asyncio.sleep(self.config.scaled(self.config.processing_seconds))
        fault = self.faults.take_kind("generation", "fail")
        if fault is not None:
            self._advance(
                record,
                "FAILED",
                error="The generation failed while processing",
                error_code=fault.error_code or "generation_failed",
            )
        else:
            try:
                changes = await asyncio.to_thread(self._render_generation, record)
                self._advance(record, "COMPLETED", **changes)
            except Exception as exc:  # the emulator reports media problems the way the API does
                log.warning("generation %s failed: %s", record.id, exc)
                self._advance(
                    record, "FAILED", error=f"Could not process the inputs: {exc}", error_code="media_processing_failed"
                )
        await self._deliver(record)

    def _render_generation(self, record: GenerationRecord) -> dict[str, Any]:
        audio = record.audio
        changes: dict[str, Any] = {}
        if record.text is not None:
            url, _ = self._render_speech(record.id, record.text["script"], record.text["voiceId"])
            audio = self.resolve_storage_url(url)
            changes["synthesized_audio_url"] = url
        assert audio is not None
        name = record.body.get("outputFileName") or record.id
        key = f"outputs/{record.id}/{name}.mp4"
        mode = (record.body.get("options") or {}).get("sync_mode", "bounce")
        duration = media.render_lipsync(record.video, audio, self._store_path(key), mode)
        with self._lock:
            self.files[key] = self.data_dir / key
        changes.update(output_url=self._signed(key, 7 * 24 * 3600), output_duration=duration)
        return changes

    async def get_generation(self, request: Request) -> Response:
        record = self._generation(request)
        if request.query_params.get("wait") == "true" and record.status in RUNNING:
            raw = request.query_params.get("timeout", "10")
            if not raw.isdigit() or not 1 <= int(raw) <= 10:
                raise ApiError(400, "validation_error", "timeout must be 1-10 seconds", field="timeout")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.changed.wait(), timeout=int(raw))
        return JSONResponse(record.public())

    async def delete_generation(self, request: Request) -> Response:
        record = self._generation(request)
        if record.status in RUNNING:
            raise ApiError(409, "generation_in_progress", "A running generation cannot be deleted")
        with self._lock:
            self.generations.pop(record.id, None)
        return JSONResponse(record.public())

    def _generation(self, request: Request) -> GenerationRecord:
        with self._lock:
            record = self.generations.get(request.path_params["id"])
        if record is None:
            raise ApiError(404, "generation_not_found", f"Generation {request.path_params['id']} does not exist")
        return record

    async def list_generations(self, request: Request) -> Response:
        statuses = set(filter(None, request.query_params.get("status", "").split(",")))
        ids = set(filter(None, request.query_params.get("ids", "").split(",")))
        with self._lock:
            items = [
                g.public()
                for g in self.generations.values()
                if (not statuses or g.status in statuses) and (not ids or g.id in ids)
            ]
        if "limit" in request.query_params or "cursor" in request.query_params:
            return JSONResponse(_page(items, request))
        return JSONResponse(items)

    async def estimate_cost(self, request: Request) -> Response:
        body = await self._json_body(request)
        video, _, _ = await self._validated_generation(body)
        info = await asyncio.to_thread(media.probe, video, video.suffix)
        seconds = info.duration if info else 0.0
        estimate = {
            "estimatedFrameCount": round(seconds * media.FPS),
            "estimatedGenerationCost": round(seconds * PRICE_PER_SECOND[body.get("model", "lipsync-2")], 4),
        }
        return JSONResponse([estimate] if self.config.cost_shape == "list" else estimate)

    async def webhook_secret(self, _: Request) -> Response:
        return JSONResponse({"secret": self.config.webhook_secret})

    # webhooks

    async def _deliver(self, record: GenerationRecord) -> None:
        url = record.body.get("webhookUrl")
        if not url:
            return
        if self.faults.take_kind("webhook", "webhook_lost") is not None:
            self.webhook_log.append(
                {"generation": record.id, "status": record.status, "delivered": False, "fault": "lost"}
            )
            return
        copies = 2 if self.faults.take_kind("webhook", "webhook_duplicate") is not None else 1
        late = self.faults.take("webhook", {"webhook_delay", "webhook_reorder"})
        if late is not None:
            await asyncio.sleep(late.delay)
        body = json.dumps(record.public(webhook=True)).encode()
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout) as client:
            for _ in range(copies):
                entry: dict[str, Any] = {"generation": record.id, "status": record.status, "delivered": False}
                try:
                    answer = await client.post(
                        url,
                        content=body,
                        headers={
                            "content-type": "application/json",
                            "Sync-Signature": sign(body, self.config.webhook_secret),
                        },
                    )
                    entry.update(delivered=answer.is_success, answer=answer.status_code)
                except httpx.HTTPError as exc:
                    entry["error"] = type(exc).__name__
                self.webhook_log.append(entry)

    # emulator controls (not part of the sync. labs API)

    async def state(self, _: Request) -> Response:
        with self._lock:
            return JSONResponse(
                {
                    "inFlight": self.in_flight(),
                    "maxInFlight": self.max_in_flight,
                    "generations": {g.id: g.status for g in self.generations.values()},
                    "voices": [v["id"] for v in self.voices.values()],
                    "assets": len(self.assets),
                    "ttsJobs": len(self.tts_jobs),
                    "webhooks": self.webhook_log,
                    "faultsInjected": self.faults.injected,
                    "requests": self.requests,
                    "errorsAnswered": dict(self.errors_answered),
                }
            )

    async def set_faults(self, request: Request) -> Response:
        body = await self._json_body(request)
        rules = [FaultRule.model_validate(rule) for rule in body.get("rules", [])]
        (self.faults.replace if body.get("replace", True) else self.faults.add)(rules)
        return JSONResponse({"rules": len(rules)})


def _page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ApiError(400, "validation_error", "limit must be 1-100", field="limit")
    cursor = request.query_params.get("cursor")
    try:
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError as exc:
        raise ApiError(400, "validation_error", "cursor is not valid", field="cursor") from exc
    end = start + int(raw_limit)
    next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return {"items": items[start:end], "nextCursor": next_cursor, "totalCount": len(items)}


class FaultsAndAuth:
    """ASGI middleware: the API key check on ``/v2``, then any HTTP-level fault for the request."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app, self.emulator = app, emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.emulator.requests += 1
        if path.startswith(("/v2/", "/_emulator/")):
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            supplied = headers.get("x-api-key", "")
            if not hmac.compare_digest(supplied.encode(), self.emulator.config.api_key.encode()):
                message = "Missing x-api-key header" if not supplied else "Invalid API key"
                await error_response(401, "unauthorized", message)(scope, receive, send)
                return
        if path.startswith("/_emulator/") or path == "/health":
            await self.app(scope, receive, send)
            return
        rule = self.emulator.faults.take(f"{scope['method']} {path}", HTTP_KINDS)
        if rule is None:
            await self.app(scope, receive, send)
            return
        await self._inject(rule, scope, receive, send)

    async def _inject(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        scaled = round(self.emulator.config.scaled(rule.delay), 3)
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, send)
        elif rule.kind == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
            raise DroppedConnection()
        elif rule.kind == "rate_limit":
            await error_response(
                429,
                rule.error_code or "rate_limit_exceeded",
                "Too many requests",
                {"Retry-After": str(max(1, round(scaled)))},
            )(scope, receive, send)
        elif rule.kind == "concurrency_limit":
            cap = self.emulator.config.limits.concurrency
            await error_response(
                429,
                "concurrency_limit_reached",
                "Concurrency limit reached",
                {"Retry-After": str(max(1, round(scaled)))},
                activeGenerations=cap,
                concurrencyLimit=cap,
                retryAfterSeconds=scaled,
            )(scope, receive, send)
        else:
            status = rule.status if rule.status >= 500 else 503
            code = rule.error_code or ("service_unavailable" if status == 503 else "internal_server_error")
            await error_response(status, code, "The service had a problem; try again")(scope, receive, send)


class QuietDrops(logging.Filter):
    """Keep injected dropped connections out of the server's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)
