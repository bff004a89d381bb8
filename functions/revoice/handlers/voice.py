"""Task: choose the job's voice (named, reused, or cloned, freeing a slot if the plan's are full)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Jobs, SyncApi, Voices, jobs, logger, record_step, sync_client, traced, voices
from revoice.pipeline.contract import Step
from revoice.pipeline.state import JobState
from revoice.pipeline.voice import ensure_voice


class Settings(Jobs, SyncApi, Voices):
    """The voice function's environment."""


settings = Settings.load()


@record_step(Step.VOICE)
@traced
@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = JobState.model_validate(event)
    return ensure_voice(state, sync=sync_client(settings), registry=voices(settings), jobs=jobs(settings)).wire()
