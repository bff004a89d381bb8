"""The Batch API (Scale and Enterprise plans; others answer 402): a ``.jsonl`` of generate requests sent as
one multipart form, run outside the plan's per-generation concurrency, at most ``batch_concurrency``
batches at a time, with a JSON Lines results file behind a redirect and a signed webhook at the end.

PENDING -> JOBS_CREATED (each request a generation of its own, readable at ``GET /v2/generate/{id}``) ->
PROCESSING -> COMPLETED, or FAILED when none of its generations could be made. A request whose input is
longer than the batch limit gets a results row without a generation, as does one the plan cannot take.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from revoice_local import media
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.generations import OUTPUT_TTL_SECONDS, Generations
from revoice_local.emulator.org import Emulator
from revoice_local.emulator.records import BATCH_RUNNING, BatchRecord, GenerationRecord

BATCH_ENDPOINT = "/v2/generate"
BATCH_STATUSES = (*BATCH_RUNNING, "COMPLETED", "FAILED")


class Batches:
    def __init__(self, org: Emulator, generations: Generations) -> None:
        self.org, self.generations = org, generations

    def routes(self) -> list[Route]:
        return [
            Route("/v2/batch", self.create, methods=["POST"]),
            Route("/v2/batch", self.listed, methods=["GET"]),
            Route("/v2/batch/{id}", self.get, methods=["GET"]),
            Route("/v2/batches/{id}/result", self.result, methods=["GET"]),
        ]

    # -- the request -----------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        org, config = self.org, self.org.config
        if not config.limits.batch_api:
            raise ApiError("batch_not_available")
        form = await request.form()
        upload = form.get("input")
        if not isinstance(upload, UploadFile):
            raise ApiError.invalid("input must be a JSON Lines file (multipart field 'input')")
        raw = await upload.read()
        if len(raw) > config.batch_max_bytes:
            raise ApiError(
                "batch_input_validation_failed", f"the file is {len(raw)} bytes; at most {config.batch_max_bytes}"
            )
        webhook = form.get("webhook_url")
        dry_run = str(form.get("dry_run") or "false").lower() == "true"
        requests = self._validated(raw, webhook if isinstance(webhook, str) and webhook else None)
        if dry_run:
            return JSONResponse({"status": "VALIDATED"})
        with org.lock:
            running = sum(1 for b in org.batches.values() if b.status in BATCH_RUNNING)
            if running >= config.batch_concurrency:
                raise ApiError(
                    "concurrency_limit_reached",
                    "Batch concurrency limit reached. Please wait for an existing batch to complete or upgrade "
                    "your plan.",
                    activeBatches=running,
                    concurrencyLimit=config.batch_concurrency,
                )
            batch = BatchRecord(
                id=f"batch_{uuid.uuid4().hex[:12]}",
                requests=requests,
                webhook_url=webhook if isinstance(webhook, str) and webhook else None,
            )
            org.batches[batch.id] = batch
        org.spawn(self._run(batch))
        return JSONResponse(self._view(batch), status_code=201)

    def _validated(self, raw: bytes, webhook: str | None) -> list[dict[str, Any]]:
        """Every line checked (its number in each problem); any problem refuses the whole batch."""
        config = self.org.config
        problems: list[str] = []
        requests: list[dict[str, Any]] = []
        seen: set[str] = set()
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            problems.append("webhook_url must be an http(s) URL")
        for number, text in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                problems.append(f"line {number}: not JSON")
                continue
            if not isinstance(line, dict):
                problems.append(f"line {number}: not an object")
                continue
            request_id = line.get("request_id")
            if not isinstance(request_id, str) or not request_id:
                problems.append(f"line {number}: request_id must be a non-empty string")
            elif request_id in seen:
                problems.append(f"line {number}: request_id {request_id} is used twice")
            else:
                seen.add(request_id)
            if line.get("endpoint") != BATCH_ENDPOINT:
                problems.append(f"line {number}: endpoint must be {BATCH_ENDPOINT}")
            payload = line.get("payload")
            if not isinstance(payload, dict):
                problems.append(f"line {number}: payload must be a generate request")
            else:
                try:
                    video, _ = self.generations.validated(payload)
                    self.generations.media(video)
                except ApiError as refused:
                    detail = refused.message if isinstance(refused.message, str) else "; ".join(refused.message)
                    problems.append(f"line {number}: {refused.code or 'invalid'}: {detail}")
            requests.append(line)
        if not config.batch_min_requests <= len(requests) <= config.batch_max_requests:
            problems.append(
                f"a batch holds {config.batch_min_requests}-{config.batch_max_requests} requests; this one "
                f"{len(requests)}"
            )
        if problems:
            raise ApiError("batch_input_validation_failed", problems, field="input")
        return requests

    # -- the run ---------------------------------------------------------------------------------

    async def _run(self, batch: BatchRecord) -> None:
        org, config = self.org, self.org.config
        await asyncio.sleep(config.scaled(config.pending_seconds))
        records: list[GenerationRecord] = []
        for line in batch.requests:
            record = await self._generation(batch, line)
            if record is not None:
                records.append(record)
        batch.status = "JOBS_CREATED" if records else "FAILED"
        if records:
            parallel = asyncio.Semaphore(config.batch_parallelism or config.limits.concurrency)

            async def run(record: GenerationRecord) -> None:
                async with parallel:
                    await self.generations.run(record)

            batch.status = "PROCESSING"
            await asyncio.gather(*(run(record) for record in records))
            batch.status = "COMPLETED"
        batch.rows = [self._row(batch, line["request_id"]) for line in batch.requests]
        key = results_key(batch.id)
        org.store_path(key).write_text("".join(json.dumps(row) + "\n" for row in batch.rows))
        org.stored(key)
        batch.output_url = f"{org.base_url}/v2/batches/{batch.id}/result"
        await self._deliver(batch)

    async def _generation(self, batch: BatchRecord, line: dict[str, Any]) -> GenerationRecord | None:
        """The request's generation, or None (its row says why) when its input is over the batch limit."""
        payload = line["payload"]
        video_item, sound_item = self.generations.validated(payload)
        video = self.generations.media(video_item)
        audio = self.generations.media(sound_item) if sound_item["type"] == "audio" else None
        if isinstance(video, Path):
            info = await asyncio.to_thread(media.probe, video, video.suffix)
            limit = self.org.config.batch_max_input_seconds
            if info is not None and info.duration > limit:
                batch.rows.append(
                    {
                        "request_id": line["request_id"],
                        "status": "FAILED",
                        "generation_id": None,
                        "error": f"The video is {info.duration:.0f}s; batch inputs may be {limit:.0f}s at most",
                        "error_code": "batch_input_duration_exceeded",
                    }
                )
                return None
        record = GenerationRecord(
            id=str(uuid.uuid4()),
            body=payload,
            video=video if isinstance(video, Path) else None,
            audio=audio if isinstance(audio, Path) else None,
            text=sound_item.get("provider") if sound_item["type"] == "text" else None,
            remote={k: v for k, v in (("video", video), ("audio", audio)) if isinstance(v, str)},
            batch_id=batch.id,
        )
        with self.org.lock:
            self.org.generations[record.id] = record
        batch.generations[line["request_id"]] = record.id
        return record

    def _row(self, batch: BatchRecord, request_id: str) -> dict[str, Any]:
        refused = next((row for row in batch.rows if row["request_id"] == request_id), None)
        if refused is not None:
            return refused
        record = self.org.generations[batch.generations[request_id]]
        return {
            "request_id": request_id,
            "status": record.status,
            "generation_id": record.id,
            "outputUrl": record.output_url,
            "error": record.error,
            "error_code": record.error_code,
        }

    async def _deliver(self, batch: BatchRecord) -> None:
        """The batch's end, signed like a generation's, to its ``webhook_url``."""
        if batch.webhook_url is None:
            return
        document = batch.public(self.org.generations, camel=True)
        await self.generations.post_signed(batch.webhook_url, document, {"batch": batch.id, "status": batch.status})

    # -- reading ---------------------------------------------------------------------------------

    def _view(self, batch: BatchRecord) -> dict[str, Any]:
        with self.org.lock:
            return batch.public(self.org.generations)

    def _batch(self, request: Request) -> BatchRecord:
        with self.org.lock:
            batch = self.org.batches.get(request.path_params["id"])
        if batch is None:
            raise ApiError("batch_not_found", f"Batch {request.path_params['id']} does not exist")
        return batch

    async def get(self, request: Request) -> Response:
        return JSONResponse(self._view(self._batch(request)))

    async def listed(self, request: Request) -> Response:
        """Newest first; ``status``, ``created_after`` and ``created_before`` (ISO 8601) filter."""
        query = request.query_params
        status = query.get("status")
        if status is not None and status not in BATCH_STATUSES:
            raise ApiError.invalid(f"status must be one of {', '.join(BATCH_STATUSES)}")
        try:
            after, before = (_instant(query.get(name)) for name in ("created_after", "created_before"))
        except ValueError:
            raise ApiError.invalid("created_after and created_before must be ISO 8601 datetimes") from None
        with self.org.lock:
            batches = list(self.org.batches.values())
        chosen = [
            b
            for b in batches
            if (status is None or b.status == status)
            and (after is None or _instant(b.created_at) > after)  # type: ignore[operator]
            and (before is None or _instant(b.created_at) < before)  # type: ignore[operator]
        ]
        return JSONResponse([self._view(b) for b in reversed(chosen)])

    async def result(self, request: Request) -> Response:
        """302 to the signed results file, as the reference has it."""
        batch = self._batch(request)
        if not batch.output_url:
            raise ApiError("batch_results_not_ready")
        signed = self.org.signed(results_key(batch.id), OUTPUT_TTL_SECONDS)
        return RedirectResponse(signed, status_code=302)


def results_key(batch_id: str) -> str:
    return f"outputs/batches/{batch_id}/results.jsonl"  # served, signed, as generations' outputs are


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))
