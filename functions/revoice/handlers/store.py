"""Task: copy the output video and speech into results/<job>/ and write result.json."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import jobs, logger, store, sync_client
from revoice.pipeline.state import JobState
from revoice.pipeline.steps import store_results


@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = JobState.model_validate(event)
    result = store_results(state, store=store(state.job.bucket), sync=sync_client(), jobs=jobs())
    logger.info("job succeeded", extra={"outputs": result["outputs"], "timings": result["timings"]})
    return result
