"""Task: stream the job's videos from S3 into sync. labs storage."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Jobs, SyncApi, jobs, logger, record_step, store, sync_client, traced
from revoice.pipeline.contract import Step
from revoice.pipeline.push import push_media
from revoice.pipeline.state import JobState


class Settings(Jobs, SyncApi):
    """The push function's environment."""


settings = Settings.load()


@record_step(Step.PUSH)
@traced
@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = JobState.model_validate(event)
    return push_media(state, store=store(state.job.bucket), sync=sync_client(settings), jobs=jobs(settings)).wire()
