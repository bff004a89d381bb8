"""HTTP API: ``POST /jobs`` starts a job, ``GET /jobs/{id}`` reports it, ``GET /jobs`` lists the recent
ones, ``POST /uploads`` hands out a browser upload straight to the bucket; ``GET /console`` is the web
console that uses them.

Authentication: ``Authorization: Bearer <token>``, the token kept in Secrets Manager (``ApiToken``).
No header: 401. A wrong token or scheme: 403. Domain errors become HTTP answers here, in one place.
The console page itself is public and holds nothing: it asks for the token and sends it on each call.
"""

from __future__ import annotations

import hmac
import json
import secrets
from functools import cache
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    Bucket,
    Campaigns,
    Jobs,
    Machine,
    RunDefaults,
    executions,
    jobs,
    logger,
    secret,
    store,
    traced,
)
from revoice.pipeline.errors import JobInputError, TransientStepError
from revoice.pipeline.job_id import is_job_id
from revoice.pipeline.jobs_api import (
    CampaignRefused,
    IdempotencyConflict,
    describe_job,
    recent_jobs,
    submit_campaign,
    submit_job,
    upload_form,
)
from revoice.pipeline.ports import Executions

MAX_BODY_BYTES = 64 * 1024
UPLOAD_SECONDS = 900  # a browser upload must start within 15 minutes of being handed out
RECENT_LIMIT = 25
app = APIGatewayHttpResolver()


class Settings(Bucket, Campaigns, Jobs, Machine, RunDefaults):
    """The API function's environment."""

    api_token_secret_arn: str
    webhooks_enabled: bool = False
    webhook_base_url: str | None = None
    link_expiry_seconds: int = 3600


settings = Settings.load()


def _campaigns() -> Executions | None:
    machine = settings.campaign_machine()
    return None if machine is None else executions(machine)


class Unauthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


def _answer(http_status: int, **body: Any) -> Response[str]:
    return Response(status_code=http_status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(Unauthenticated)
def _unauthenticated(_: Exception) -> Response[str]:
    return _answer(401, errorCode="unauthorized", message="send Authorization: Bearer <token>")


@app.exception_handler(Forbidden)
def _forbidden(_: Exception) -> Response[str]:
    return _answer(403, errorCode="forbidden", message="the bearer token is not valid for this API")


@app.exception_handler(JobInputError)
def _bad_input(error: JobInputError) -> Response[str]:
    return _answer(400, errorCode=error.code, message=error.reason)


@app.exception_handler(CampaignRefused)
def _campaign_refused(refused: CampaignRefused) -> Response[str]:
    document = refused.document
    return _answer(
        400,
        errorCode=document.get("errorCode", "invalid_campaign"),
        message=document.get("reason", ""),
        problems=document.get("problems", []),
    )


@app.exception_handler(IdempotencyConflict)
def _conflict(error: IdempotencyConflict) -> Response[str]:
    return _answer(409, errorCode="idempotency_key_conflict", message=str(error))


@app.exception_handler(TransientStepError)
def _unavailable(error: TransientStepError) -> Response[str]:
    return _answer(503, errorCode=error.code, message=error.reason)


def _authenticate() -> None:
    header = app.current_event.headers.get("authorization", "")
    if not header:
        raise Unauthenticated
    scheme, _, token = header.partition(" ")
    expected = secret(settings.api_token_secret_arn)
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden


def _base_url() -> str:
    return settings.webhook_base_url or f"https://{app.current_event.request_context.domain_name}"


class BodyTooLarge(Exception):
    pass


@app.exception_handler(BodyTooLarge)
def _too_large(_: Exception) -> Response[str]:
    return _answer(413, errorCode="body_too_large", message=f"a request body is at most {MAX_BODY_BYTES} bytes")


def _json_body() -> dict[str, Any]:
    raw = app.current_event.decoded_body or ""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge
    try:
        body = json.loads(raw)
    except ValueError:
        raise JobInputError("invalid_manifest", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise JobInputError("invalid_manifest", "the body must be a JSON object")
    return body


@cache
def _console_page() -> str:
    """The page, with what it shares with the API written in from where it is defined."""
    from revoice.pipeline.advice import ADVICE
    from revoice.pipeline.contract import Step, describe_step
    from revoice.sync.models import DEFAULT_SYNC_MODE, MODELS, SYNC_MODES

    config = {
        "steps": [[step.value, describe_step(step)] for step in Step],
        "models": list(MODELS),
        "defaultModel": settings.run.model,
        "syncModes": list(SYNC_MODES),
        "defaultSyncMode": DEFAULT_SYNC_MODE,
        "advice": ADVICE,
    }
    page = (resources.files("revoice.handlers") / "console.html").read_text(encoding="utf-8")
    return page.replace("/*REVOICE_CONFIG*/null", json.dumps(config).replace("</", "<\\/"))


@app.get("/console")
def console() -> Response[str]:
    """The console: static, public, holding no data (it asks for the token); one nonce per answer."""
    nonce = secrets.token_urlsafe(16)
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=_console_page().replace("__NONCE__", nonce),
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # its own script and style only; media, uploads and API calls go to the bucket and this API
            "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "media-src https: http:; connect-src https: http:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'",
        },
    )


@app.post("/uploads")
def upload() -> Response[str]:
    _authenticate()
    body = _json_body()
    try:
        filename, size = str(body["filename"]), int(body["size"])
    except (KeyError, TypeError, ValueError):
        raise JobInputError("invalid_manifest", 'send {"filename": ..., "size": bytes}') from None
    form = upload_form(
        filename,
        size,
        store=store(settings.jobs_bucket),
        max_bytes=settings.run.max_upload_bytes,
        seconds=UPLOAD_SECONDS,
    )
    return _answer(201, **form)


@app.get("/jobs")
def recent() -> Response[str]:
    _authenticate()
    return _answer(200, jobs=recent_jobs(jobs(settings), RECENT_LIMIT))


@app.post("/jobs")
def start() -> Response[str]:
    _authenticate()
    body = _json_body()
    config = settings.run
    if settings.webhooks_enabled and config.webhook_url is None:
        config = config.model_copy(update={"webhook_url": f"{_base_url()}/webhooks/sync"})
    key = app.current_event.headers.get("idempotency-key")
    campaigns = _campaigns()
    if "lines" in body and campaigns is not None:
        submitted = submit_campaign(
            body,
            key,
            store=store(settings.jobs_bucket),
            campaigns=campaigns,
            jobs=jobs(settings),
            config=config,
            max_concurrency=settings.campaign_concurrency,
            batch=settings.sync_batch,
        )
    else:
        submitted = submit_job(
            body,
            key,
            store=store(settings.jobs_bucket),
            executions=executions(settings),
            jobs=jobs(settings),
            config=config,
        )
    logger.set_correlation_id(submitted.job_id)
    logger.info("submitted over HTTP", extra={"new_job": submitted.created, "campaign": "lines" in body})
    current = describe_job(submitted.job_id, jobs=jobs(settings), store=store(settings.jobs_bucket)) or {}
    return _answer(
        202,
        jobId=submitted.job_id,
        status=current.get("status", "RUNNING"),
        created=submitted.created,
        statusUrl=f"{_base_url()}/jobs/{submitted.job_id}",
    )


@app.get("/jobs/<job_id>")
def status(job_id: str) -> Response[str]:
    _authenticate()
    found = (
        describe_job(
            job_id, jobs=jobs(settings), store=store(settings.jobs_bucket), link_seconds=settings.link_expiry_seconds
        )
        if is_job_id(job_id)
        else None
    )
    if found is None:
        return _answer(404, errorCode="job_not_found", message=f"no job {job_id}")
    return _answer(200, **found)


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
