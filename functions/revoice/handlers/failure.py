"""Task and EventBridge target: record a job's failure in failed/<job>/error.json and the job table,
then give back its generation slot and let go of its voice."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import jobs, logger, resumer, slots, store, sync_client, voices
from revoice.pipeline.failure import failed_jobs_voice, record_failure
from revoice.pipeline.voice_lifecycle import release_voice


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket = event.get("job", {}).get("bucket")
    table = jobs()
    document = record_failure(event, store=store(bucket), jobs=table)
    logger.set_correlation_id(document["jobId"])
    logger.warning("job failed", extra={k: document[k] for k in ("step", "errorCode", "reason")})
    slots().hand_over(document["jobId"], resumer().wake)
    voice_id = failed_jobs_voice(event, document["jobId"], table)
    if voice_id:
        release_voice(document["jobId"], voice_id, registry=voices(), sync=sync_client())
    return document
