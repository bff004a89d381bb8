"""S3 event: something landed under inbox/. Validate it and start one execution per object version."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.events import S3Event
from revoice.handlers.runtime import (
    Campaigns,
    EventBus,
    Jobs,
    Machine,
    RunDefaults,
    events,
    executions,
    jobs,
    logger,
    record_step,
    store,
    traced,
)
from revoice.pipeline.contract import Step
from revoice.pipeline.ingest import ingest_object
from revoice.pipeline.layout import decode_event_key, error_key
from revoice.pipeline.ports import Executions


class Settings(Campaigns, EventBus, Jobs, Machine, RunDefaults):
    """The ingest function's environment."""


settings = Settings.load()


def _campaigns() -> Executions | None:
    machine = settings.campaign_machine()
    return None if machine is None else executions(machine)


@record_step(Step.INGEST)
@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcomes = []
    parsed = S3Event.model_validate(event)
    if not parsed.Records:
        logger.info("an S3 event without records (a test event?): nothing to do", extra={"event": parsed.Event})
    for record in parsed.Records:
        key = decode_event_key(record.s3.object.key)
        outcome = ingest_object(
            key,
            record.version,
            store=store(record.s3.bucket.name),
            executions=executions(settings),
            jobs=jobs(settings),
            config=settings.run,
            campaigns=_campaigns(),
            campaign_concurrency=settings.campaign_concurrency,
            campaign_batch=settings.sync_batch,
        )
        if outcome.error is not None:
            from revoice.pipeline.outcome import ended_badly  # only a rejection publishes from here

            events(settings).publish(
                ended_badly(outcome.error, error_key=error_key(outcome.error["jobId"]), notify=False)
            )
        logger.set_correlation_id(outcome.job_id)
        logger.info("inbox object handled", extra={"key": key, **asdict(outcome)})
        outcomes.append(asdict(outcome))
    return {"jobs": outcomes}
