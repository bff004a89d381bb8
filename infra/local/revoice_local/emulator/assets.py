"""Assets: presigned uploads into sync. labs storage, registering files (or public URLs) as assets.

``POST /v2/assets/upload`` -> ``PUT <uploadUrl>`` (the exact declared Content-Type, no API key) ->
``POST /v2/assets``. The plan's file-size limit is checked when the asset is registered (422
``file_size_exceeds_plan_limit``); the upload itself is only bound by the API's 5 GiB.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from revoice.pipeline.clock import stamp
from revoice_local import media
from revoice_local.emulator.errors import ApiError
from revoice_local.emulator.org import Emulator
from revoice_local.emulator.records import Ticket

API_MAX_BYTES = 5 * 1024**3
ASSET_TYPES = ("VIDEO", "AUDIO", "IMAGE")
VISIBILITIES = ("USER", "ORGANIZATION")


def _xml(status: int, code: str, message: str = "") -> Response:
    detail = f"<Message>{message}</Message>" if message else ""
    return Response(f"<Error><Code>{code}</Code>{detail}</Error>", status, media_type="application/xml")


class Assets:
    def __init__(self, org: Emulator) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        return [
            Route("/v2/assets/upload", self.create_upload, methods=["POST"]),
            Route("/v2/assets", self.register, methods=["POST"]),
            Route("/v2/assets", self.listed, methods=["GET"]),
            Route("/v2/assets/{id}", self.get, methods=["GET"]),
            Route("/v2/assets/{id}", self.delete, methods=["DELETE"]),
            Route("/_storage/upload/{token}", self.put_upload, methods=["PUT"]),
            Route("/uploads/{path:path}", self.get_upload, methods=["GET"]),
            Route("/outputs/{path:path}", self.get_output, methods=["GET"]),
        ]

    async def create_upload(self, request: Request) -> Response:
        org = self.org
        org.rate("assets/upload", org.config.uploads_per_minute, 60)
        body = await org.json_body(request)
        name, content_type, size = body.get("fileName"), body.get("contentType"), body.get("size")
        problems = []
        if not isinstance(name, str) or not name.strip() or "/" in name:
            problems.append("fileName must be a file name")
        if not isinstance(content_type, str) or "/" not in content_type:
            problems.append("contentType must be a MIME type")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= API_MAX_BYTES:
            problems.append(f"size must be a positive integer of at most {API_MAX_BYTES} bytes")
        if problems:
            raise ApiError.invalid(*problems)
        assert isinstance(size, int)
        assert isinstance(name, str)
        assert isinstance(content_type, str)
        token = uuid.uuid4().hex
        key = f"uploads/{uuid.uuid4()}/{name}"
        ttl = org.config.upload_url_ttl
        with org.lock:
            org.tickets[token] = Ticket(token, key, content_type, size, time.time() + ttl)
        return JSONResponse(
            {"uploadUrl": f"{org.base_url}/_storage/upload/{token}", "url": org.storage_url(key), "expiresIn": ttl},
            status_code=201,
        )

    async def put_upload(self, request: Request) -> Response:
        org = self.org
        with org.lock:
            ticket = org.tickets.get(request.path_params["token"])
        if ticket is None:
            return _xml(404, "NoSuchUpload")
        if time.time() > ticket.expires:
            return _xml(403, "AccessDenied", "Request has expired")
        if request.headers.get("content-type") != ticket.content_type:
            return _xml(403, "SignatureDoesNotMatch", "Content-Type differs from the one declared")
        path = org.store_path(ticket.key)
        received = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > ticket.size:
                    break
                out.write(chunk)
        if received != ticket.size:
            path.unlink(missing_ok=True)
            return _xml(400, "IncompleteBody", f"got {received} bytes, declared {ticket.size}")
        org.stored(ticket.key)
        with org.lock:
            org.tickets.pop(ticket.token, None)
        return Response(status_code=200, headers={"ETag": f'"{uuid.uuid4().hex}"'})

    async def get_upload(self, request: Request) -> Response:
        with self.org.lock:
            path = self.org.files.get("uploads/" + request.path_params["path"])
        return _xml(404, "NoSuchKey") if path is None else FileResponse(path)

    async def get_output(self, request: Request) -> Response:
        key = "outputs/" + request.path_params["path"]
        with self.org.lock:
            path = self.org.files.get(key)
        if path is None:
            return _xml(404, "NoSuchKey")
        if not self.org.check_signed(key, request):
            return _xml(403, "AccessDenied")
        return FileResponse(path, media_type="application/jsonl" if key.endswith(".jsonl") else "video/mp4")

    async def register(self, request: Request) -> Response:
        """A file in org storage (probed, size-checked), or a public URL, registered as an asset."""
        org = self.org
        body = await org.json_body(request)
        kind, url, visibility = body.get("type"), body.get("url"), body.get("visibility", "USER")
        problems = []
        if kind not in ASSET_TYPES:
            problems.append(f"type must be one of {', '.join(ASSET_TYPES)}")
        if not isinstance(url, str) or "://" not in url:
            problems.append("url must be a URL")
        if visibility not in VISIBILITIES:
            problems.append(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if problems:
            raise ApiError.invalid(*problems)
        assert isinstance(url, str)
        created = stamp()
        asset: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "createdAt": created,
            "updatedAt": created,
            "type": kind,
            "inputType": "url" if not org.in_storage(url) else "upload",
            "visibility": visibility,
            "name": body.get("name") or url.rsplit("/", 1)[-1],
            "url": url,
            "size": None,
            "format": None,
            "thumbnailUrl": None,
            "projectId": body.get("projectId"),
        }
        if org.in_storage(url):
            path = org.resolve_storage_url(url)
            size = path.stat().st_size
            if size > org.config.max_upload_bytes:
                raise ApiError(
                    "file_size_exceeds_plan_limit",
                    f"{size} bytes is over this plan's {org.config.max_upload_bytes} byte limit",
                )
            info = await asyncio.to_thread(media.probe, path, path.suffix)
            asset.update(size=size, format=info.format if info else path.suffix.lstrip(".").lower() or None)
            if info is not None:
                asset["durationSeconds"] = info.duration
                if info.has_video:
                    asset["width"], asset["height"] = info.width, info.height
        with org.lock:
            org.assets[asset["id"]] = asset
        return JSONResponse(asset, status_code=201)

    def _asset(self, request: Request, *, remove: bool = False) -> dict[str, Any]:
        with self.org.lock:
            assets = self.org.assets
            asset = assets.pop(request.path_params["id"], None) if remove else assets.get(request.path_params["id"])
        if asset is None:
            raise ApiError("asset_not_found", f"Asset {request.path_params['id']} does not exist")
        return asset

    async def get(self, request: Request) -> Response:
        return JSONResponse(self._asset(request))

    async def delete(self, request: Request) -> Response:
        return JSONResponse(self._asset(request, remove=True))

    async def listed(self, request: Request) -> Response:
        with self.org.lock:
            items = list(self.org.assets.values())
        return JSONResponse(page(items, request))


def page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """``{items, nextCursor, totalCount}`` (the assets list's shape; cursors are opaque offsets)."""
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ApiError.invalid("limit must be 1-100")
    cursor = request.query_params.get("cursor")
    try:
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError as exc:
        raise ApiError.invalid("cursor is not valid") from exc
    end = start + int(raw_limit)
    next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return {"items": items[start:end], "nextCursor": next_cursor, "totalCount": len(items)}
