"""Task: start text-to-speech in the cloned voice, or check on it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Jobs, SyncApi, jobs, logger, record_step, sync_client, traced
from revoice.pipeline.contract import Step
from revoice.pipeline.speech import speak
from revoice.pipeline.state import JobState


class Settings(Jobs, SyncApi):
    """The speech function's environment."""


settings = Settings.load()


@record_step(Step.SPEECH)
@traced
@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return speak(JobState.model_validate(event), sync=sync_client(settings), jobs=jobs(settings)).wire()
