"""Task: the lip-sync function's three operations, each named by the state machine.

One function serves them (rather than three) because they share the client, the slots and the
callbacks, and a warm container keeps all three ready.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    Callbacks,
    Jobs,
    Slots,
    SyncApi,
    callbacks,
    jobs,
    logger,
    record_step,
    resumer,
    slots,
    sync_client,
    traced,
)
from revoice.pipeline.callbacks import park_token
from revoice.pipeline.contract import LipsyncOperation, Step
from revoice.pipeline.lipsync import join_the_line, lipsync
from revoice.pipeline.state import JobState


class Settings(Callbacks, Jobs, Slots, SyncApi):
    """The lip-sync function's environment."""


settings = Settings.load()


def generate(state: JobState) -> dict[str, Any]:
    return lipsync(
        state, sync=sync_client(settings), jobs=jobs(settings), slots=slots(settings), wake=resumer().wake
    ).wire()


def join_line(state: JobState, token: str) -> dict[str, Any]:
    outcome = join_the_line(state, token, slots=slots(settings), wake=resumer().wake)
    logger.info("waiting for a generation slot", extra={"outcome": outcome})
    return {"outcome": outcome}


def await_callback(state: JobState, token: str) -> dict[str, Any]:
    outcome = park_token(
        state,
        token,
        store=callbacks(settings),
        resumer=resumer(),
        sync=sync_client(settings),
        slots=slots(settings),
        jobs=jobs(settings),
    )
    logger.info("waiting for the completion webhook", extra={"outcome": outcome})
    return {"outcome": outcome}


@record_step(Step.LIPSYNC)
@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    operation = LipsyncOperation(event["operation"])
    state = JobState.model_validate(event["state"])
    logger.set_correlation_id(state.job.id)
    if operation is LipsyncOperation.GENERATE:
        return generate(state)
    if operation is LipsyncOperation.JOIN_THE_LINE:
        return join_line(state, event["taskToken"])
    return await_callback(state, event["taskToken"])
