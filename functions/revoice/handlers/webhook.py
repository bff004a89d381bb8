"""HTTP API / function URL: sync. labs' completion webhook. Verify, then resume the waiting job (and
start the generation of the job its slot goes to).

Nothing from a request that fails verification reaches Step Functions, DynamoDB or the logs beyond
the reason it was refused. Oversized bodies are refused before anything else is looked at.
"""

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from revoice.handlers.runtime import (
    Callbacks,
    Slots,
    SyncApi,
    callbacks,
    logger,
    resumer,
    secret,
    slots,
    sync_client,
    traced,
)
from revoice.pipeline.callbacks import webhook_arrived
from revoice.pipeline.lipsync import generation_starter
from revoice.pipeline.ports import GenerationStart
from revoice.sync.errors import WebhookVerificationError
from revoice.sync.models import Generation
from revoice.sync.webhook import verify

if TYPE_CHECKING:
    from revoice.pipeline.slots import WokenWith

MAX_WEBHOOK_BYTES = 256 * 1024
app = APIGatewayHttpResolver()


class Settings(Callbacks, Slots, SyncApi):
    """The webhook function's environment; no secret means the stack has webhooks off."""

    sync_webhook_secret_arn: str | None = None


settings = Settings.load()


def start_generation(start: GenerationStart) -> "WokenWith | None":
    """The key is read only when a job is handed a slot (not for every webhook)."""
    return generation_starter(sync_client(settings))(start)


def _answer(http_status: int, **body: Any) -> Response[str]:
    return Response(status_code=http_status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.post("/webhooks/sync")
def sync_webhook() -> Response[str]:
    event = app.current_event
    text = event.body or ""
    if len(text) > MAX_WEBHOOK_BYTES * 4 // 3 + 4:
        return _answer(413, message="webhook body too large")
    raw = base64.b64decode(text) if event.is_base64_encoded else text.encode()
    if len(raw) > MAX_WEBHOOK_BYTES:
        return _answer(413, message="webhook body too large")
    secret_arn = settings.sync_webhook_secret_arn
    if not secret_arn:  # SyncWebhookSecret is none: there is no secret, so nothing can be verified
        return _answer(403, message="completion webhooks are off for this stack")
    try:
        verify(dict(event.headers), raw, secret(secret_arn))
    except WebhookVerificationError as refused:
        logger.warning("webhook refused", extra={"reason": refused.reason})
        return _answer(401, message=refused.reason)
    try:
        payload = json.loads(raw)
        generation = Generation.model_validate(payload)
    except (ValueError, RecursionError, ValidationError):
        return _answer(400, message="webhook body is not a generation")
    logger.set_correlation_id(generation.id)
    outcome = webhook_arrived(
        generation,
        payload,
        store=callbacks(settings),
        resumer=resumer(),
        slots=slots(settings),
        start_generation=start_generation,
    )
    logger.info(
        "webhook accepted", extra={"generation": generation.id, "status": generation.status, "outcome": outcome}
    )
    return _answer(200, outcome=outcome)


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
