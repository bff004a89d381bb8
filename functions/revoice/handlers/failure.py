"""Task and EventBridge target: record a job's failure in failed/<job>/error.json and the job table."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import jobs, logger, store
from revoice.pipeline.failure import record_failure


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket = event.get("job", {}).get("bucket")
    document = record_failure(event, store=store(bucket), jobs=jobs())
    logger.set_correlation_id(document["jobId"])
    logger.warning("job failed", extra={k: document[k] for k in ("step", "errorCode", "reason")})
    return document
