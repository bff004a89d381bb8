"""EventBridge target: a job that named a ``notify_url`` has ended; POST its outcome there, signed."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Jobs, RunDefaults, jobs, logger, secret, traced
from revoice.pipeline.outcome import JobOutcome

if TYPE_CHECKING:
    import httpx


class Settings(Jobs, RunDefaults):
    """The notify function's environment (the trusted hosts are the job defaults')."""

    notify_secret_arn: str
    notify_retry_seconds: float = 600


settings = Settings.load()


@cache
def _http() -> httpx.Client:
    import httpx

    return httpx.Client(follow_redirects=False)  # a redirect is not followed: it could point anywhere


@traced
@logger.inject_lambda_context(correlation_id_path="detail.jobId", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from revoice.pipeline.notify import deliver  # it imports httpx: only once there is something to send

    outcome = JobOutcome.model_validate(event["detail"])
    table = jobs(settings)
    url = (table.get(outcome.job_id) or {}).get("notifyUrl")
    if not url:
        logger.info("the job named no notify_url: nothing to send")
        return {"status": "none"}
    delivery = deliver(
        outcome,
        str(url),
        secret=secret(settings.notify_secret_arn),
        http=_http(),
        jobs=table,
        trusted_hosts=settings.run.trusted_notify_hosts,
        budget_seconds=settings.notify_retry_seconds,
    )
    logger.info("notification " + delivery["status"], extra={k: v for k, v in delivery.items() if k != "lastError"})
    return delivery
