"""Task and EventBridge target: take a failed job out of the line for a generation slot, give back its
slot and let go of its voice, then record its failure in the job table and failed/<job>/error.json
(last: whoever sees the document sees a job that holds nothing)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    Bucket,
    EventBus,
    Jobs,
    Slots,
    SyncApi,
    Voices,
    events,
    jobs,
    logger,
    record_job_end,
    resumer,
    slots,
    store,
    sync_client,
    traced,
    voices,
)
from revoice.pipeline.failure import failed_job_id, record_failure, what_the_failed_job_held
from revoice.pipeline.layout import error_key
from revoice.pipeline.outcome import ended_badly
from revoice.pipeline.voice import release_voice


class Settings(Bucket, EventBus, Jobs, Slots, SyncApi, Voices):
    """The failure function's environment (the bucket: an execution's end event names no job bucket)."""


settings = Settings.load()


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = failed_job_id(event)
    logger.set_correlation_id(job_id)
    table = jobs(settings)
    slots(settings).job_ended(job_id, resumer().wake)
    held = what_the_failed_job_held(event, job_id, table)
    if held.voice_id:
        release_voice(job_id, held.voice_id, registry=voices(settings), sync=sync_client(settings))
    document = record_failure(
        event, store=store(event.get("job", {}).get("bucket") or settings.jobs_bucket), jobs=table
    )
    if "ignored" not in document:
        events(settings).publish(ended_badly(document, error_key=error_key(job_id), notify=held.notifies))
        record_job_end("FAILED", document["errorCode"])
    logger.warning("job failed", extra={k: document[k] for k in ("step", "errorCode", "reason")})
    return document
