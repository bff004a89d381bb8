"""The organisation's own endpoints (webhook secret), the API's catalogs (``GET /v2/errors``, unauthenticated,
and ``GET /v2/models``), and the emulator's controls (``/_emulator/*``, ``/health``: not part of the API)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoice_local.emulator.catalog import ERRORS, MODELS
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.org import Emulator


class Control:
    def __init__(self, org: Emulator) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health),
            Route("/v2/errors", self.errors, methods=["GET"]),
            Route("/v2/models", self.models, methods=["GET"]),
            Route("/v2/organizations/webhook/secret", self.webhook_secret, methods=["GET"]),
            Route("/_emulator/state", self.state, methods=["GET"]),
            Route("/_emulator/faults", self.set_faults, methods=["POST"]),
        ]

    async def health(self, _: Request) -> Response:
        return JSONResponse({"ok": True})

    async def errors(self, _: Request) -> Response:
        return JSONResponse(
            [
                {"errorCode": code, "statusCode": entry.status, "message": entry.message, "suggestion": entry.fix}
                for code, entry in ERRORS.items()
            ]
        )

    async def models(self, _: Request) -> Response:
        return JSONResponse([{"id": model, "name": model} for model in MODELS])

    async def webhook_secret(self, _: Request) -> Response:
        return JSONResponse({"secret": self.org.config.webhook_secret})

    async def state(self, _: Request) -> Response:
        org = self.org
        with org.lock:
            return JSONResponse(
                {
                    "inFlight": org.in_flight(),
                    "maxInFlight": org.max_in_flight,
                    "generations": {g.id: g.status for g in org.generations.values()},
                    "voices": [v.id for v in org.voices.values()],
                    "assets": len(org.assets),
                    "ttsJobs": len(org.tts_jobs),
                    "usedThisMonth": dict(org.used_this_month),
                    "webhooks": org.webhook_log,
                    "faultsInjected": org.faults.injected,
                    "requests": org.requests,
                    "errorsAnswered": dict(org.errors_answered),
                }
            )

    async def set_faults(self, request: Request) -> Response:
        body = await self.org.json_body(request)
        rules = [FaultRule.model_validate(rule) for rule in body.get("rules", [])]
        (self.org.faults.replace if body.get("replace", True) else self.org.faults.add)(rules)
        return JSONResponse({"rules": len(rules)})
