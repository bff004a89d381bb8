"""HTTP API: ``POST /jobs`` starts a job, ``GET /jobs/{id}`` reports it. Bearer-token authenticated.

Authentication: ``Authorization: Bearer <token>``, the token kept in Secrets Manager (``ApiToken``).
No header: 401. A wrong token or scheme: 403. Domain errors become HTTP answers here, in one place.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Bucket, Jobs, Machine, RunDefaults, executions, jobs, logger, secret, store, traced
from revoice.pipeline.errors import JobInputError, TransientStepError
from revoice.pipeline.job_id import is_job_id
from revoice.pipeline.jobs_api import IdempotencyConflict, describe_job, submit_job

MAX_BODY_BYTES = 64 * 1024
app = APIGatewayHttpResolver()


class Settings(Bucket, Jobs, Machine, RunDefaults):
    """The API function's environment."""

    api_token_secret_arn: str
    webhooks_enabled: bool = False
    webhook_base_url: str | None = None
    link_expiry_seconds: int = 3600


settings = Settings.load()


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


@app.post("/jobs")
def start() -> Response[str]:
    _authenticate()
    raw = app.current_event.decoded_body or ""
    if len(raw) > MAX_BODY_BYTES:
        return _answer(413, errorCode="body_too_large", message=f"a job manifest is at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise JobInputError("invalid_manifest", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise JobInputError("invalid_manifest", "the body must be a JSON object")
    config = settings.run
    if settings.webhooks_enabled and config.webhook_url is None:
        config = config.model_copy(update={"webhook_url": f"{_base_url()}/webhooks/sync"})
    submitted = submit_job(
        body,
        app.current_event.headers.get("idempotency-key"),
        store=store(settings.jobs_bucket),
        executions=executions(settings),
        jobs=jobs(settings),
        config=config,
    )
    logger.set_correlation_id(submitted.job_id)
    logger.info("job submitted over HTTP", extra={"new_job": submitted.created})
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
