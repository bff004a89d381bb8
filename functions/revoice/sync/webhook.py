"""Signing and verifying sync. labs webhooks (``Sync-Signature: t=<unix>,v1=<hex>``).

The HMAC-SHA256 is keyed with the org's ``whsec_`` secret over ``"<t>."`` + the raw body. Verification
compares in constant time and refuses timestamps outside a freshness window, so a captured request
cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from revoice.sync.errors import WebhookVerificationError

SIGNATURE_HEADERS = ("sync-signature", "x-signature-primary")
DEFAULT_TOLERANCE_SECONDS = 300


def signature_for(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value sync. labs sends with ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature_for(body, secret, stamp)}"


def signature_header(headers: Mapping[str, str]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in SIGNATURE_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Return the signed timestamp, or raise WebhookVerificationError with a loggable reason."""
    header = signature_header(headers)
    if header is None:
        raise WebhookVerificationError("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookVerificationError("malformed signature header")
        if key == "t":
            if not value.isdigit():
                raise WebhookVerificationError("malformed signature timestamp")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.strip())
    if timestamp is None or not candidates:
        raise WebhookVerificationError("malformed signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("stale signature timestamp")
    expected = signature_for(body, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookVerificationError("signature mismatch")
    return timestamp
