"""Outbound notifications: when a job that named a ``notify_url`` ends, its outcome is POSTed there.

The body is the job's end event (``{"type": "Job Succeeded", "job": <the event's detail>}``), signed the
way sync. labs signs its webhooks: ``revoice-signature: t=<unix time>,v1=<HMAC-SHA256 of "t.body">`` with
the stack's notification secret (Secrets Manager; the operator reads it to verify, and may rotate it).
A 2xx is delivered; a 408, 429, 5xx or no answer is tried again with doubling waits until the retry
budget is spent; any other 4xx is the receiver refusing it, not tried again. Every attempt is recorded in
the job's row (``GET /jobs/{id}`` shows it). This runs beside the job, after its end: a receiver that is
down can neither fail nor slow it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from revoice.pipeline import url_source
from revoice.pipeline.clock import stamp
from revoice.pipeline.errors import JobInputError
from revoice.pipeline.outcome import JobOutcome
from revoice.pipeline.ports import JobRecords
from revoice.pipeline.url_source import Resolver, check_notify_url
from revoice.sync.webhook import sign

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "revoice-signature"
FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 60.0
ATTEMPT_TIMEOUT_SECONDS = 10.0
RETRIED_STATUSES = {408, 425, 429}


def notification_body(outcome: JobOutcome) -> bytes:
    return json.dumps({"type": outcome.detail_type.value, "job": outcome.wire()}, separators=(",", ":")).encode()


def deliver(
    outcome: JobOutcome,
    url: str,
    *,
    secret: str,
    http: httpx.Client,
    jobs: JobRecords,
    trusted_hosts: frozenset[str],
    budget_seconds: float,
    resolver: Resolver | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """POST the outcome to ``url`` until it is taken, refused, or the budget is spent; return the record."""
    import httpx

    earlier = (jobs.get(outcome.job_id) or {}).get("notification") or {}
    if earlier.get("status") == "delivered":
        return dict(earlier)  # a duplicate event: the receiver has it already
    body = notification_body(outcome)
    started, wait = clock(), FIRST_WAIT_SECONDS
    delivery: dict[str, Any] = {"status": "delivering", "attempts": int(earlier.get("attempts", 0))}
    while True:
        delivery["attempts"] += 1
        delivery["lastAttemptAt"] = stamp()
        retry = True
        try:
            # again at each attempt: DNS may have changed since the job began
            check_notify_url(url, trusted_hosts, resolver or url_source.resolve)
            answer = http.post(
                url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "user-agent": "revoice-notify/1",
                    SIGNATURE_HEADER: sign(body, secret),
                },
                timeout=ATTEMPT_TIMEOUT_SECONDS,
            )
            delivery["lastStatus"] = answer.status_code
            if answer.is_success:
                delivery.update(status="delivered", deliveredAt=stamp())
                delivery.pop("lastError", None)
                break
            retry = answer.status_code >= 500 or answer.status_code in RETRIED_STATUSES
            delivery["lastError"] = f"the receiver answered {answer.status_code}"
        except JobInputError as refused:
            delivery["lastError"], retry = refused.reason, False
        except httpx.HTTPError as error:
            delivery["lastError"] = f"{type(error).__name__}: no answer from the receiver"
        if not retry:
            delivery["status"] = "refused"
            break
        if clock() - started + wait > budget_seconds:
            delivery["status"] = "given_up"
            break
        jobs.notified(outcome.job_id, dict(delivery))
        sleep(wait)
        wait = min(wait * 2, LONGEST_WAIT_SECONDS)
    jobs.notified(outcome.job_id, dict(delivery))
    return delivery
