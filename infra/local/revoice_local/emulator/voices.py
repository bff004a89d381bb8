"""Voices: the list (built-ins and the org's clones), one voice, cloning into the plan's clone slots.

A clone's source must be in sync. labs storage (an asset, or a storage URL); only the first 2 minutes of
a video's audio are used, and video samples are at most 1 GiB. Cloning is limited to 10 an hour, and
one clone is made at a time (``voice_clone_busy``).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoice_local import media
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.org import Emulator
from revoice_local.emulator.records import VoiceRecord


class Voices:
    def __init__(self, org: Emulator) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        return [
            Route("/v2/voices", self.listed, methods=["GET"]),
            Route("/v2/voices", self.clone, methods=["POST"]),
            Route("/v2/voices/{id}", self.get, methods=["GET"]),
            Route("/v2/voices/{id}", self.delete, methods=["DELETE"]),
        ]

    async def listed(self, _: Request) -> Response:
        return JSONResponse([voice.listed() for voice in self.org.listed_voices()])

    async def get(self, request: Request) -> Response:
        voice = self.org.voice(request.path_params["id"])
        if voice is None:
            raise ApiError("voice_not_found", f"Voice {request.path_params['id']} does not exist")
        return JSONResponse(voice.listed())

    async def delete(self, request: Request) -> Response:
        with self.org.lock:
            voice = self.org.voices.pop(request.path_params["id"], None)
        if voice is None:
            raise ApiError("voice_not_found", f"Voice {request.path_params['id']} does not exist")
        return JSONResponse(True)

    async def clone(self, request: Request) -> Response:
        org, config = self.org, self.org.config
        body = await org.json_body(request)
        name = body.get("name")
        problems = []
        if not isinstance(name, str) or not name.strip():
            problems.append("name must be a non-empty string")
        if ("assetId" in body) == ("url" in body):
            problems.append("provide exactly one of url or assetId")
        if body.get("provider", "elevenlabs") != "elevenlabs":
            problems.append("provider must be elevenlabs")
        if problems:
            raise ApiError.invalid(*problems)
        assert isinstance(name, str)
        if org.cloning():
            raise ApiError(
                "voice_clone_busy",
                "Another clone is being made; retry shortly",
                headers={"Retry-After": "1"},
                retryAfterSeconds=round(config.scaled(1.0), 3),
            )
        self._check_room(name)
        org.clone_busy_until = math.inf  # taken before the first await: a second clone meanwhile is busy
        try:
            path = self._sample(body)
            org.rate("voices/clone", config.clones_per_hour, 3600)
            info = await asyncio.to_thread(media.probe, path, path.suffix)
            if info is not None and info.has_video and path.stat().st_size > config.max_voice_video_bytes:
                raise ApiError("voice_sample_source_too_large")
            if info is None or not info.has_audio:
                raise ApiError("voice_sample_invalid", "The sample has no audio track that can be read")
            if info.duration < config.min_sample_seconds:
                raise ApiError(
                    "voice_sample_too_short",
                    f"The sample has {info.duration:.1f}s of audio; {config.min_sample_seconds:.1f}s needed",
                )
            await asyncio.sleep(config.scaled(config.clone_seconds))
        finally:
            org.clone_busy_until = 0.0
        voice = VoiceRecord(id=str(uuid.uuid4()), name=name)
        with org.lock:
            self._check_room(name)
            assert voice.id is not None
            org.voices[voice.id] = voice
        return JSONResponse(voice.cloned(config.clone_answer), status_code=201)

    def _check_room(self, name: str) -> None:
        with self.org.lock:
            if any(v.name == name for v in self.org.voices.values()):
                raise ApiError("voice_name_conflict", f"A voice named {name!r} already exists")
            slots = self.org.config.limits.clone_slots
            if len(self.org.voices) >= slots:
                raise ApiError(
                    "voice_clone_limit_reached",
                    f"All {slots} clone slots are in use",
                    suggestion="Delete a voice you no longer need with DELETE /v2/voices/{id}, then retry",
                )

    def _sample(self, body: dict[str, object]) -> Path:
        """The sample's file in org storage; anything else must be uploaded first (422)."""
        org = self.org
        try:
            if "assetId" in body:
                with org.lock:
                    asset = org.assets.get(str(body["assetId"]))
                if asset is None:
                    raise ApiError("voice_sample_upload_required")
                return org.resolve_storage_url(str(asset["url"]))
            return org.resolve_storage_url(str(body["url"]))
        except ApiError as exc:
            if exc.code == "voice_sample_upload_required":
                raise
            raise ApiError("voice_sample_upload_required") from exc
