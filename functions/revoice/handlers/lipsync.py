"""Task: start the lip-sync generation (or join the line for a generation slot), park the task token for
its webhook, or check on it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import callbacks, jobs, logger, resumer, slots, sync_client
from revoice.pipeline.callbacks import park_token
from revoice.pipeline.state import JobState
from revoice.pipeline.steps import join_the_line, lipsync


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "taskToken" in event:
        state = JobState.model_validate(event["state"])
        logger.set_correlation_id(state.job.id)
        if event.get("waitFor") == "slot":
            outcome = join_the_line(state, event["taskToken"], slots=slots(), wake=resumer().wake)
            logger.info("waiting for a generation slot", extra={"outcome": outcome})
            return {"outcome": outcome}
        outcome = park_token(
            state, event["taskToken"], store=callbacks(), resumer=resumer(), sync=sync_client(), slots=slots()
        )
        logger.info("waiting for the completion webhook", extra={"outcome": outcome})
        return {"outcome": outcome}
    state = JobState.model_validate(event)
    logger.set_correlation_id(state.job.id)
    return lipsync(state, sync=sync_client(), jobs=jobs(), slots=slots(), wake=resumer().wake).wire()
