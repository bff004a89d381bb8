"""The sync. labs client's transport: an API client that carries the key, a storage client that never does,
and one retry loop that turns every answer into a success or a typed error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Self

import httpx
from pydantic import ValidationError

from revoice.sync.errors import SyncApiError, SyncError, SyncTransportError
from revoice.sync.models import ErrorBody
from revoice.sync.retry import RetryPolicy

DEFAULT_BASE_URL = "https://api.sync.so"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=60.0, pool=5.0)

log = logging.getLogger("revoice.sync.client")


class Transport:
    """The two HTTP clients (the API, which alone gets the key, and storage) and the retry loop around them."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a sync. labs API key is required")
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._api = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._storage = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._api.close()
        self._storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(
        self,
        send: Callable[[], httpx.Response],
        what: str,
        *,
        no_retry_codes: frozenset[str] = frozenset(),
        follow_codes: frozenset[str] = frozenset(),
        once: bool = False,
        redirect: bool = False,
    ) -> tuple[httpx.Response, int]:
        """Run ``send`` until it succeeds or a permanent error; return the answer and the attempts.

        An error in ``follow_codes`` that names what to follow (``details``) goes back to the caller;
        ``once``: a call that must not be repeated (its first error goes back too); ``redirect``: a 3xx
        is the answer (the caller follows it with the other client)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = send()
                if response.is_success or (redirect and response.is_redirect):
                    return response, attempt
                raise _api_error(response)
            except httpx.TimeoutException as exc:
                error: SyncError = SyncTransportError("timeout", f"{what} timed out ({type(exc).__name__})")
            except httpx.TransportError as exc:
                error = SyncTransportError("connection_error", f"{what} failed: {type(exc).__name__}")
            except SyncApiError as exc:
                error = exc
                if exc.error_code in follow_codes and exc.details:
                    raise
            if once or error.error_code in no_retry_codes or not self.retry.should_retry(attempt, error, started):
                raise error
            delay = self.retry.delay(attempt, error)
            log.warning(
                "sync. labs call will be retried",
                extra={"call": what, "attempt": attempt, "error_code": error.error_code, "delay_s": round(delay, 3)},
            )
            self._sleep(delay)

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        no_retry_codes: frozenset[str] = frozenset(),
        follow_codes: frozenset[str] = frozenset(),
        once: bool = False,
    ) -> tuple[httpx.Response, int]:
        return self._send(
            lambda: self._api.request(method, path, json=json, params=params, headers=headers),
            f"{method} {path}",
            no_retry_codes=no_retry_codes,
            follow_codes=follow_codes,
            once=once,
        )

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, **kwargs)[0].json()


def _retry_after(response: httpx.Response, body: ErrorBody) -> float | None:
    if body.retry_after_seconds is not None:
        return body.retry_after_seconds
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        return float(header)
    except ValueError:
        return None


def _api_error(response: httpx.Response) -> SyncApiError:
    try:
        body = ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        body = ErrorBody(message=response.reason_phrase or "unreadable error body")
    code = body.error_code or _fallback_code(response.status_code)
    details = {
        k: v
        for k, v in {
            "activeGenerations": body.active_generations,
            "concurrencyLimit": body.concurrency_limit,
            "generationId": body.generation_id,
        }.items()
        if v is not None
    }
    return SyncApiError(
        response.status_code,
        code,
        body.text(),
        retry_after=_retry_after(response, body),
        suggestion=body.suggestion,
        field=body.field,
        details=details,
    )


def _fallback_code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        402: "payment_required",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        413: "payload_too_large",
        422: "unprocessable",
        429: "rate_limit_exceeded",
    }.get(status, f"http_{status}")
