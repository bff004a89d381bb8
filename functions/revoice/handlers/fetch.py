"""Task: copy the job's https sources into the bucket (jobs started over HTTP with URL sources)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import Jobs, jobs, logger, record_step, store, traced
from revoice.pipeline.contract import Step
from revoice.pipeline.fetch import fetch_sources
from revoice.pipeline.state import JobState

if TYPE_CHECKING:
    import httpx


class Settings(Jobs):
    """The fetch function's environment."""


settings = Settings.load()


@cache
def _http() -> httpx.Client:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(10.0, read=60.0), follow_redirects=False)


@record_step(Step.FETCH)
@traced
@logger.inject_lambda_context(correlation_id_path="job.id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = JobState.model_validate(event)
    return fetch_sources(state, store=store(state.job.bucket), jobs=jobs(settings), http=_http()).wire()
