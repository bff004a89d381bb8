"""How the emulated API refuses: the documented error body, with the catalog's code and status.

``{"statusCode", "errorCode"?, "message", "error"}``. Validation of a request's shape on the assets,
voices and TTS endpoints answers without an ``errorCode`` and with a list of messages, the framework's
way the API answers it; everything coded takes its status from the catalog.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from revoice_local.emulator.catalog import ERRORS


class ApiError(Exception):
    def __init__(
        self,
        code: str | None,
        message: str | list[str] | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        entry = ERRORS.get(code) if code else None
        if code is not None and entry is None:
            raise ValueError(f"{code} is not in the emulator's error catalog")
        self.code = code
        self.status = status or (entry.status if entry else 400)
        self.message = message or (entry.message if entry else HTTPStatus(self.status).phrase)
        self.headers, self.extra = headers or {}, extra
        super().__init__(code or self.status)

    @classmethod
    def invalid(cls, *problems: str) -> ApiError:
        """A request of the wrong shape (no error code: the framework's validation answer)."""
        return cls(None, list(problems), status=400)


def error_response(
    status: int, code: str | None, message: str | list[str], headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}
    if code is not None:
        body["errorCode"] = code
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers)
