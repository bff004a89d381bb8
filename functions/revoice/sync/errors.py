"""Typed errors for the sync. labs API.

Callers branch on ``error_code`` (the API's stable ``errorCode``), never on ``message``. Whether an error
is worth retrying is decided here, once, so the client, the pipeline and the state machine agree.
"""

from __future__ import annotations

from typing import Any

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# 429s that mean "not now": sync. labs is at the plan's rate or concurrency limit, nothing is wrong.
BUSY_CODES = frozenset({"rate_limit_exceeded", "concurrency_limit_reached"})


class SyncError(Exception):
    """Anything that went wrong talking to sync. labs."""

    retryable: bool = False
    error_code: str = "sync_error"
    retry_after: float | None = None


class SyncApiError(SyncError):
    """The API answered with an error body (``statusCode``, ``errorCode``, ``message``)."""

    def __init__(
        self,
        status_code: int,
        error_code: str,
        message: str,
        *,
        retry_after: float | None = None,
        suggestion: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        self.suggestion = suggestion
        self.field = field
        self.details = details or {}
        self.retryable = status_code in TRANSIENT_STATUSES
        text = f"sync. labs answered {status_code} {error_code}: {message}"
        if suggestion:
            text += f" ({suggestion})"
        super().__init__(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "errorCode": self.error_code,
            "message": self.message,
            "retryAfter": self.retry_after,
            "field": self.field,
        }


class SyncTransportError(SyncError):
    """No usable answer: connection refused or dropped, or the call timed out. Always retryable."""

    retryable = True

    def __init__(self, error_code: str, message: str) -> None:
        self.error_code = error_code
        self.message = message
        super().__init__(f"sync. labs could not be reached ({error_code}): {message}")


class SyncJobFailed(SyncError):
    """A TTS job or generation reached a failed terminal state."""

    def __init__(self, kind: str, job_id: str, status: str, error_code: str | None, message: str | None) -> None:
        self.kind = kind
        self.job_id = job_id
        self.status = status
        self.error_code = error_code or status.lower()
        self.message = message or f"{kind} {job_id} ended {status}"
        super().__init__(f"{kind} {job_id} ended {status} ({self.error_code}): {self.message}")


class WebhookVerificationError(Exception):
    """A webhook whose signature cannot be trusted. ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
