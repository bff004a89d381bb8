"""Text to speech in a voice: ``POST /v2/tts`` (synchronous: ``{id, url, duration}``), the asynchronous
``POST /v2/tts/jobs`` (202 and ``Location``, polled at ``GET /v2/tts/jobs/{id}`` until SUCCESS or FAILED),
each with its own 60 a minute, and, with ``tts_shape: seed``, the product document's job polled at
``GET /v2/tts/{id}`` for ``synthesizedAudioUrl``."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoice.pipeline.clock import stamp
from revoice_local import media
from revoice_local.emulator.catalog import MAX_SCRIPT_CHARS, RUNNING
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.org import Emulator
from revoice_local.emulator.records import TtsJobRecord

# eSpeak says one script at a time (revoice_local.speech): a thread of its own, first come first served.
# In asyncio's shared pool, a burst of requests (a campaign's lines) held its threads waiting for eSpeak,
# and the generations' renders and media probes queued behind them.
SPEAKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-speech")


class Speech:
    def __init__(self, org: Emulator) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        return [
            Route("/v2/tts/jobs", self.create_job, methods=["POST"]),
            Route("/v2/tts/jobs/{id}", self.get_job, methods=["GET"]),
            Route("/v2/tts", self.create, methods=["POST"]),
            Route("/v2/tts/{id}", self.get_seed, methods=["GET"]),
        ]

    def _request(self, body: dict[str, object]) -> tuple[str, str]:
        script, voice_id = body.get("script"), body.get("voiceId")
        problems = []
        if not isinstance(script, str) or not 1 <= len(script) <= MAX_SCRIPT_CHARS:
            problems.append(f"script must be 1-{MAX_SCRIPT_CHARS} characters")
        if not isinstance(voice_id, str) or not voice_id:
            problems.append("voiceId must be a non-empty string")
        if body.get("provider", "elevenlabs") != "elevenlabs":
            problems.append("provider must be elevenlabs")
        if problems:
            raise ApiError.invalid(*problems)
        assert isinstance(script, str)
        assert isinstance(voice_id, str)
        if self.org.voice(voice_id) is None:
            raise ApiError("voice_not_found", f"Voice {voice_id} does not exist", status=422)
        self.org.use_monthly("text-to-speech requests", self.org.config.limits.monthly_tts)
        return script, voice_id

    def render(self, job_id: str, script: str, voice_id: str) -> tuple[str, float]:
        """Speech for ``script`` in ``voice_id`` as a WAV in org storage: (its URL, its seconds)."""
        key = f"uploads/tts-{job_id}/{job_id}.wav"
        samples = media.synthesize_speech(script, voice_id)
        media.write_wav(self.org.store_path(key), samples)
        self.org.stored(key)
        return self.org.storage_url(key), round(len(samples) / media.SPEECH_RATE, 3)

    async def _spoken(self, job_id: str, script: str, voice_id: str) -> tuple[str, float]:
        return await asyncio.get_running_loop().run_in_executor(SPEAKER, self.render, job_id, script, voice_id)

    async def create(self, request: Request) -> Response:
        org = self.org
        org.rate("tts", org.config.tts_per_minute, 60)
        script, voice_id = self._request(await org.json_body(request))
        job_id = str(uuid.uuid4())
        if org.config.tts_shape == "sync":
            url, duration = await self._spoken(job_id, script, voice_id)
            return JSONResponse({"id": job_id, "url": url, "duration": duration})
        return JSONResponse(self._start(job_id, script, voice_id).seed(), status_code=201)

    async def get_seed(self, request: Request) -> Response:
        return JSONResponse(self._job(request).seed())

    async def create_job(self, request: Request) -> Response:
        org = self.org
        if not org.config.tts_jobs_enabled:
            raise ApiError("tts_jobs_not_enabled")
        body = await org.json_body(request)
        seen, digest = org.idempotent("tts", request, body)
        if seen is not None:
            return JSONResponse(org.tts_jobs[seen].job(org.config.tts_error_shape), status_code=202)
        with org.making("tts", request):
            org.rate("tts/jobs", org.config.tts_per_minute, 60)
            script, voice_id = self._request(body)
            job = self._start(str(uuid.uuid4()), script, voice_id)
        org.remember("tts", request, digest, job.id)
        return JSONResponse(
            job.job(org.config.tts_error_shape),
            status_code=202,
            headers={"Location": f"/v2/tts/jobs/{job.id}", "Retry-After": "3"},
        )

    async def get_job(self, request: Request) -> Response:
        job = self._job(request)
        headers = {"Retry-After": "3"} if job.status in RUNNING else None
        return JSONResponse(job.job(self.org.config.tts_error_shape), headers=headers)

    def _job(self, request: Request) -> TtsJobRecord:
        with self.org.lock:
            job = self.org.tts_jobs.get(request.path_params["id"])
        if job is None:
            raise ApiError("tts_job_not_found", f"TTS job {request.path_params['id']} does not exist")
        return job

    def _start(self, job_id: str, script: str, voice_id: str) -> TtsJobRecord:
        job = TtsJobRecord(job_id)
        with self.org.lock:
            self.org.tts_jobs[job_id] = job
        self.org.spawn(self._run(job, script, voice_id))
        return job

    async def _run(self, job: TtsJobRecord, script: str, voice_id: str) -> None:
        config = self.org.config
        await asyncio.sleep(config.scaled(config.tts_seconds) / 3)
        job.status, job.started_at = "PROCESSING", stamp()
        await asyncio.sleep(config.scaled(config.tts_seconds) * 2 / 3)
        fault = self.org.faults.take_kind("tts", "fail")
        if fault is not None:
            job.error_code = fault.error_code or "internal_error"
            job.error_message = f"Speech synthesis failed ({job.error_code})"
            job.status, job.finished_at = "FAILED", stamp()
            return
        job.url, job.duration = await self._spoken(job.id, script, voice_id)
        job.status, job.finished_at = "SUCCESS", stamp()
