"""Schedule (EventBridge Scheduler) or manual invoke: sweep stale revoice clones, report, emit metrics.

Event: ``{"dryRun": true}`` to see what would be deleted without deleting anything.
"""

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from revoice.handlers.runtime import jobs, logger, settings, store, sync_client, voices
from revoice.pipeline.cleanup import sweep

metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dry_run = bool((event or {}).get("dryRun", False))
    report = sweep(
        sync=sync_client(),
        registry=voices(),
        job_is_running=jobs().is_running,
        ttl_seconds=settings().voice_idle_ttl_hours * 3600,
        dry_run=dry_run,
    )
    key = f"reports/cleanup/{report.started_at.replace(':', '-')}{'-dry-run' if dry_run else ''}.json"
    store().put_json(key, report.document())
    for name, value in report.counts().items():
        metrics.add_metric(name=f"Voices{name[0].upper()}{name[1:]}", unit=MetricUnit.Count, value=value)
    logger.info("voice cleanup finished", extra={"report": key, **report.counts()})
    return {"report": key, **report.document()}
