"""``revoice campaign``: submit a campaign file for a speaker, and follow it with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from revoice.aws.s3 import S3ObjectStore
from revoice.aws.tables import JobTable
from revoice.pipeline import layout
from revoice.pipeline.campaign import CampaignInvalid, read_campaign
from revoice.pipeline.campaign_run import progress
from revoice.pipeline.job_id import job_id_for
from revoice_local.jobs_cli import ENDED, JobNotFound, video_key
from revoice_local.target import Target

BAR = 30
APPEAR_WITHIN = 60.0  # seconds for a dropped file's campaign to appear


def submit_campaign(target: Target, source: str, lines: Path, *, max_cost: float | None, dry_run: bool) -> str:
    """Upload the speaker (a local file) and drop the lines file in ``inbox/``; the campaign's id."""
    kind = layout.CAMPAIGN_SUFFIXES.get(layout.suffix(lines.name))
    if kind is None:
        raise ValueError(f"{lines} is not a campaign file ({', '.join(layout.CAMPAIGN_SUFFIXES)})")
    metadata = {"source": video_key(target, source, "source")}
    if max_cost is not None:
        metadata["max-cost"] = str(max_cost)
    if dry_run:
        metadata["dry-run"] = "true"
    body = lines.read_bytes()
    try:  # the stack's own checks, before anything lands in inbox/
        read_campaign(body, kind, {"source": metadata["source"], "max_cost": max_cost})
    except CampaignInvalid as invalid:
        listed = "".join(f"\n  line {p['line']}, {p['field'] or 'line'}: {p['problem']}" for p in invalid.problems)
        raise ValueError(f"{invalid.reason}{listed}") from None
    key = f"inbox/{lines.stem}-{time.strftime('%Y%m%dT%H%M%S')}{lines.suffix}"
    answer = target.client("s3").put_object(Bucket=target.bucket, Key=key, Body=body, Metadata=metadata)
    return job_id_for(target.bucket, key, answer["ETag"].strip('"'))


def retry_campaign(target: Target, campaign_id: str) -> str:
    """Drop the campaign's own file again, byte for byte with its metadata: the same campaign, whose run
    starts only the lines that did not succeed. Its id."""
    record = _row(target, campaign_id)
    if record.get("kind") != "campaign":
        raise JobNotFound(f"no campaign {campaign_id}")
    if record.get("status") not in ENDED:
        raise ValueError(f"campaign {campaign_id} is still {record.get('status')}: retry it once it has ended")
    key = str(record["triggerKey"])
    if not key.startswith(layout.INBOX):
        raise ValueError(
            f"campaign {campaign_id} was sent over HTTP ({key}), not dropped in {layout.INBOX}: its failed lines "
            "cannot be run again on their own; POST /jobs with a new Idempotency-Key starts a new campaign of "
            "every line"
        )
    s3 = target.client("s3")
    dropped = s3.get_object(Bucket=target.bucket, Key=key)
    answer = s3.put_object(
        Bucket=target.bucket,
        Key=key,
        Body=dropped["Body"].read(),
        Metadata=dropped.get("Metadata", {}),
        ContentType=dropped.get("ContentType", "application/octet-stream"),
    )
    again = job_id_for(target.bucket, key, answer["ETag"].strip('"'))
    if again != campaign_id:  # the same bytes under the bucket's SSE-S3 keep their ETag, so their campaign
        raise RuntimeError(f"the file dropped again became campaign {again}, not {campaign_id}")
    runs, deadline = int(record.get("attempts") or 0), time.monotonic() + APPEAR_WITHIN
    while int(_row(target, campaign_id).get("attempts") or 0) <= runs:  # until the stack's ingest claims the run
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign {campaign_id} did not start again within {APPEAR_WITHIN:.0f}s")
        time.sleep(0.25)
    return campaign_id


def _row(target: Target, campaign_id: str) -> dict[str, Any]:
    table = target.table(target.jobs_table)
    return dict(table.get_item(Key={"jobId": campaign_id}, ConsistentRead=True).get("Item") or {})


def campaign_status(target: Target, campaign_id: str) -> dict[str, Any]:
    record = _row(target, campaign_id)
    if not record:
        raise JobNotFound(f"no campaign {campaign_id}")
    store = S3ObjectStore(target.bucket, target.client("s3"))
    jobs = JobTable(target.table(target.jobs_table))
    return {"status": record.get("status"), "step": record.get("step"), **progress(campaign_id, store=store, jobs=jobs)}


def bar(status: dict[str, Any], elapsed: float) -> str:
    """``[#####>....]  12/20 done, 1 failed, 6 in flight  ETA 40s``"""
    total = max(1, int(status["lines"]))
    done, failed, running = int(status["succeeded"]), int(status["failed"]), int(status["running"])
    filled = BAR * (done + failed) // total
    ended = done + failed
    eta = f"  ETA {elapsed / ended * (total - ended):.0f}s" if 0 < ended < total else ""
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {ended}/{total} done ({failed} failed), {running} in flight{eta}"


def follow_campaign(
    target: Target, campaign_id: str, show: Callable[[str], None], timeout: float = 86_400
) -> dict[str, Any]:
    """Show the bar whenever it changes, until the campaign's report is written; its last status."""
    started, shown = time.monotonic(), ""
    while True:
        try:
            status = campaign_status(target, campaign_id)
        except JobNotFound:
            if time.monotonic() - started > APPEAR_WITHIN:
                raise
            time.sleep(0.25)  # the stack's ingest has not read the file yet
            continue
        line = bar(status, time.monotonic() - started)
        if line != shown:
            show(line)
            shown = line
        if status["status"] in ENDED:
            return status
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"campaign {campaign_id} still running after {timeout:.0f}s")
        time.sleep(1)
