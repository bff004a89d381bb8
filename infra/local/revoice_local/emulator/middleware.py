"""The emulator's front door (ASGI): the API key on ``/v2`` (but the error catalog), then any HTTP-level
fault the fault book holds for the request; and the filter that keeps injected drops out of the log."""

from __future__ import annotations

import asyncio
import hmac
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.errors import error_response
from revoice_local.emulator.faults import HTTP_KINDS
from revoice_local.emulator.org import Emulator

UNAUTHENTICATED = frozenset({"/v2/errors"})


class DroppedConnection(Exception):
    """Raised after a partial answer so the server closes the connection mid-body."""


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
        if path.startswith(("/v2/", "/_emulator/")) and path not in UNAUTHENTICATED:
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            supplied = headers.get("x-api-key", "")
            if not hmac.compare_digest(supplied.encode(), self.emulator.config.api_key.encode()):
                message = "Missing x-api-key header" if not supplied else "Invalid API key"
                await error_response(401, None, message)(scope, receive, send)
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
        elif rule.kind == "rate_limit":  # the documented body only, unless rate_limit_hints
            hints = self.emulator.config.rate_limit_hints
            await error_response(
                429,
                rule.error_code or "rate_limit_exceeded",
                "Too many requests",
                {"Retry-After": str(max(1, round(scaled)))} if hints else None,
                retryAfterSeconds=scaled if hints else None,
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
            code = rule.error_code or "internal_error"
            await error_response(status, code, "The service had a problem; try again")(scope, receive, send)


class QuietDrops(logging.Filter):
    """Keep injected dropped connections out of the server's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)
