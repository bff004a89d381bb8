"""Task: give back the generation slot, copy the output video and speech into results/<job>/, write
result.json, let go of the voice."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    EventBus,
    Jobs,
    Slots,
    SyncApi,
    Voices,
    events,
    jobs,
    logger,
    record_job_end,
    record_step,
    resumer,
    slots,
    store,
    sync_client,
    traced,
    voices,
)
from revoice.pipeline.contract import Step
from revoice.pipeline.layout import result_key
from revoice.pipeline.outcome import succeeded
from revoice.pipeline.state import JobState
from revoice.pipeline.store import store_results
from revoice.pipeline.voice import release_voice


class Settings(EventBus, Jobs, Slots, SyncApi, Voices):
    """The store function's environment."""


settings = Settings.load()


@record_step(Step.STORE)
@traced
@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = JobState.model_validate(event)
    slots(settings).hand_over(state.job.id, resumer().wake)  # the generation has ended: the next job in line goes
    sync = sync_client(settings)
    result = store_results(state, store=store(state.job.bucket), sync=sync, jobs=jobs(settings))
    if state.voice is not None and state.voice.held:
        release_voice(state.job.id, state.voice.id, registry=voices(settings), sync=sync)
    events(settings).publish(succeeded(result, result_key=result_key(state.job.id), notify=state.manifest.notifies))
    record_job_end("SUCCEEDED")
    logger.info("job succeeded", extra={"outputs": result["outputs"], "timings": result["timings"]})
    return result
