"""Schedule (EventBridge Scheduler) or manual invoke: sweep stale revoice clones, give back generation
slots still held by jobs that have ended (a lost end-of-execution event), report, emit metrics.

Event: ``{"dryRun": true}`` to see what would be deleted without deleting anything.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import (
    Bucket,
    Jobs,
    Slots,
    SyncApi,
    Voices,
    jobs,
    logger,
    metrics,
    resumer,
    slots,
    store,
    sync_client,
    traced,
    voices,
)
from revoice.pipeline.cleanup import sweep


class Settings(Bucket, Jobs, Slots, SyncApi, Voices):
    """The cleanup function's environment."""

    voice_idle_ttl_hours: float = 72


settings = Settings.load()


@metrics().log_metrics
@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dry_run = bool((event or {}).get("dryRun", False))
    job_is_running = jobs(settings).is_running
    report = sweep(
        sync=sync_client(settings),
        registry=voices(settings),
        job_is_running=job_is_running,
        ttl_seconds=settings.voice_idle_ttl_hours * 3600,
        dry_run=dry_run,
    )
    generation_slots = slots(settings)
    stale = (
        generation_slots.stale(job_is_running) if dry_run else generation_slots.reclaim(job_is_running, resumer().wake)
    )
    metrics().add_metric(name="GenerationSlotsReclaimed", unit=MetricUnit.Count, value=0 if dry_run else len(stale))
    key = f"reports/cleanup/{report.started_at.replace(':', '-')}{'-dry-run' if dry_run else ''}.json"
    store(settings.jobs_bucket).put_json(key, {**report.document(), "staleGenerationSlots": stale})
    for name, value in report.counts().items():
        metrics().add_metric(name=f"Voices{name[0].upper()}{name[1:]}", unit=MetricUnit.Count, value=value)
    logger.info("voice cleanup finished", extra={"report": key, **report.counts()})
    return {"report": key, **report.document(), "staleGenerationSlots": stale}
