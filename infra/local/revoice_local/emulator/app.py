"""The sync. labs v2 API, emulated over real HTTP (Starlette), point by point from the API reference.

:class:`revoice_local.emulator.org.Emulator` is the organisation; this assembles its endpoints, one
module per resource, behind the API-key and fault middleware. Unknown routes answer the API's JSON
404, every refusal the documented error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from revoice_local.emulator.assets import Assets
from revoice_local.emulator.batches import Batches
from revoice_local.emulator.control import Control
from revoice_local.emulator.errors import ApiError, error_response
from revoice_local.emulator.generations import Generations
from revoice_local.emulator.middleware import FaultsAndAuth
from revoice_local.emulator.tts import Speech
from revoice_local.emulator.voices import Voices

if TYPE_CHECKING:
    from revoice_local.emulator.org import Emulator


def build(org: Emulator) -> ASGIApp:
    speech = Speech(org)
    generations = Generations(org, speech)
    resources: list[Control | Assets | Voices | Speech | Generations | Batches] = [
        Control(org),
        Assets(org),
        Voices(org),
        speech,
        generations,
        Batches(org, generations),
    ]

    async def refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if exc.code is not None:
            org.errors_answered[exc.code] += 1
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    async def no_route(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, None, f"Cannot {request.method} {request.url.path}")

    routes = [route for resource in resources for route in resource.routes()]
    api = Starlette(routes=routes, exception_handlers={ApiError: refused, HTTPException: no_route})
    return FaultsAndAuth(api, org)
