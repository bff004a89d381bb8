"""Task: the campaign function's operations, each named by the campaign state machine (push, estimate,
voice, plan, batch, report); one function, as they share the bucket, the tables and the client."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    Bucket,
    Jobs,
    Machine,
    SyncApi,
    Voices,
    executions,
    jobs,
    logger,
    store,
    sync_client,
    traced,
    voices,
)
from revoice.pipeline.campaign_batch import BatchLimits, run_batches
from revoice.pipeline.campaign_run import CampaignState, estimate, plan_lines, push_videos, report
from revoice.pipeline.contract import CampaignOperation
from revoice.pipeline.voice import ensure_voice


class Settings(Bucket, Jobs, Machine, SyncApi, Voices):
    """The campaign function's environment (``STATE_MACHINE_ARN``: the job state machine its lines run on;
    ``SYNC_BATCH_*``: what sync. labs takes in one batch)."""

    sync_batch_min_requests: int = 20
    sync_batch_max_requests: int = 500
    sync_batch_max_bytes: int = 5 * 1024 * 1024
    sync_batch_max_input_seconds: float = 30.0
    sync_batch_poll_seconds: int = 60

    def batch_limits(self) -> BatchLimits:
        return BatchLimits(
            min_requests=self.sync_batch_min_requests,
            max_requests=self.sync_batch_max_requests,
            max_bytes=self.sync_batch_max_bytes,
            max_input_seconds=self.sync_batch_max_input_seconds,
            poll_seconds=self.sync_batch_poll_seconds,
        )


settings = Settings.load()


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    operation = CampaignOperation(event["operation"])
    state = CampaignState.model_validate(event["campaign"])
    logger.set_correlation_id(state.campaign_id)
    bucket, table = store(settings.jobs_bucket), jobs(settings)
    if operation is CampaignOperation.PUSH:
        return push_videos(state, store=bucket, sync=sync_client(settings), jobs=table).wire()
    if operation is CampaignOperation.ESTIMATE:
        return estimate(state, store=bucket, sync=sync_client(settings), jobs=table).wire()
    if operation is CampaignOperation.VOICE:
        state.job = ensure_voice(state.job, sync=sync_client(settings), registry=voices(settings), jobs=table)
        return state.wire()
    if operation is CampaignOperation.PLAN:
        return plan_lines(state, store=bucket, jobs=table, executions=executions(settings)).wire()
    if operation is CampaignOperation.BATCH:
        return run_batches(state, store=bucket, sync=sync_client(settings), limits=settings.batch_limits()).wire()
    summary = report(state, store=bucket, jobs=table, registry=voices(settings), sync=sync_client(settings))
    logger.info("campaign ended", extra={"status": summary["status"], "counts": summary["counts"]})
    return summary
