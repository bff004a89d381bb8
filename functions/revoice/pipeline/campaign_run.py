"""A campaign's run: what is the campaign's is done once, every line is a job of its own.

The campaign state machine pushes the source and every distinct target once, estimates the cost before
anything is spent (refusing a campaign over its ``max_cost``; a dry run stops there), chooses the voice
once, and writes one item per line for its Distributed Map: each item starts the job state machine with
the pushed videos and the voice already in the job's state, so a line's own steps are speech, lip-sync
and store. Lines that succeeded in an earlier run of the same file are not run again. The report step
writes ``results/<campaign>/report.csv`` and ``summary.json`` and gives the voice back.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from revoice.pipeline import layout
from revoice.pipeline.campaign import MAX_CAMPAIGN_BYTES, CampaignInvalid, line_job_id, read_campaign
from revoice.pipeline.campaign_batch import SyncBatch
from revoice.pipeline.clock import now, parse_stamp, seconds_between, stamp
from revoice.pipeline.contract import Step
from revoice.pipeline.errors import JobInputError, from_sync
from revoice.pipeline.failure import describe
from revoice.pipeline.ingest import IngestOutcome, checked_video, job_config, reject
from revoice.pipeline.job_id import job_id_for
from revoice.pipeline.layout import CAMPAIGN_SUFFIXES
from revoice.pipeline.manifest import JobManifest, decoded
from revoice.pipeline.ports import QueuedLine
from revoice.pipeline.push import push_video
from revoice.pipeline.state import Assets, JobRef, JobState, PushedVideo, RunConfig, Section, VoiceState
from revoice.pipeline.voice import release_voice
from revoice.sync.errors import SyncError
from revoice.sync.models import GenerateRequest, MediaInput

if TYPE_CHECKING:
    from revoice.pipeline.ports import Executions, JobRecords, ObjectInfo, ObjectStore, SyncApi, VoiceRegistry

REPORT_COLUMNS = ("line", "name", "status", "output", "seconds", "estimatedCost", "errorCode", "reason")


class CostPlan(Section):
    by_video: dict[str, float]  # "<target key> <model>": sync. labs' estimate for one generation
    total: float


class CampaignState(Section):
    job: JobState  # the campaign as one job: its source pushed, its voice chosen, once for every line
    max_concurrency: int  # lines in flight at once: the plan's generations and the next ones, ready
    max_cost: float | None = None
    dry_run: bool = False
    pushed: dict[str, PushedVideo] = {}
    estimate: CostPlan | None = None
    run: bool = False
    error: dict[str, Any] | None = None
    batch: bool = False  # the lines' generations through sync. labs' Batch API
    batches: list[SyncBatch] = []
    batches_done: bool = True  # the ASL's "Batches done?": no batches to wait for
    batch_wait_seconds: int = 0
    batch_note: str | None = None  # why the lines (or some) ran one by one after all

    @property
    def campaign_id(self) -> str:
        return self.job.job.id

    @property
    def bucket(self) -> str:
        return self.job.job.bucket

    @property
    def items_key(self) -> str:
        return layout.campaign_key(self.campaign_id, "items.json")

    def wire(self) -> dict[str, Any]:
        wired = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        wired.update(bucket=self.bucket, itemsKey=self.items_key)  # what the Map's ItemReader reads
        return wired


class Line(BaseModel):
    number: int
    name: str
    job_id: str
    manifest: JobManifest


def lines_key(campaign_id: str) -> str:
    return layout.campaign_key(campaign_id, "lines.json")


def read_lines(campaign_id: str, store: ObjectStore) -> list[Line]:
    return [Line.model_validate(line) for line in store.read_json(lines_key(campaign_id)) or []]


def push_videos(state: CampaignState, *, store: ObjectStore, sync: SyncApi, jobs: JobRecords) -> CampaignState:
    """The source and every distinct target, into sync. labs storage once each."""
    jobs.entered(state.campaign_id, Step.PUSH)
    started = now()
    keys = [
        state.job.manifest.source,
        *sorted({line.manifest.target_key for line in read_lines(state.campaign_id, store)}),
    ]
    for n, key in enumerate(dict.fromkeys(keys)):
        if key not in state.pushed:
            role = "source" if n == 0 else "target"
            state.pushed[key] = push_video(
                key,
                role,
                f"{state.campaign_id}-{n}",
                store=store,
                sync=sync,
                max_bytes=state.job.config.max_upload_bytes,
            )
    manifest = state.job.manifest
    state.job.assets = Assets(
        source=state.pushed[manifest.source],
        target=state.pushed[manifest.target_key],
        started_at=started,
        finished_at=now(),
    )
    return state


def estimate(state: CampaignState, *, store: ObjectStore, sync: SyncApi, jobs: JobRecords) -> CampaignState:
    """sync. labs' estimate for the lines still to run; over ``max_cost`` refuses the campaign, a dry run
    stops here (``results/<campaign>/estimate.json`` says what it would cost)."""
    lines = [line for line, _ in _lines_to_run(state, store, jobs)]
    source = state.pushed[state.job.manifest.source]
    by_video: dict[str, float] = {}
    for line in lines:
        video = _video(line, state)
        if video in by_video:
            continue
        key, model = video.rsplit(" ", 1)  # a key may hold spaces; a model name does not
        request = GenerateRequest(
            model=model,
            input=[MediaInput(type="video", url=state.pushed[key].url), MediaInput(type="audio", url=source.url)],
        )
        try:
            by_video[video] = sum(e.estimated_generation_cost for e in sync.estimate_cost(request))
        except SyncError as error:
            raise from_sync(error, f"estimating the cost of lip-syncing {key}") from error
    total = round(sum(by_video[_video(line, state)] for line in lines), 4)
    state.estimate = CostPlan(by_video=by_video, total=total)
    if state.max_cost is not None and total > state.max_cost:
        raise JobInputError(
            "campaign_over_budget",
            f"the {len(lines)} lines are estimated at {total:.2f} USD, over the campaign's max_cost of "
            f"{state.max_cost:.2f}; nothing was started",
        )
    if state.dry_run:
        store.put_json(
            f"{layout.result_prefix(state.campaign_id)}estimate.json",
            {"campaignId": state.campaign_id, "lines": len(lines), "estimatedCost": total, "byVideo": by_video},
        )
    state.run = not state.dry_run and bool(lines)
    return state


def plan_lines(state: CampaignState, *, store: ObjectStore, jobs: JobRecords, executions: Executions) -> CampaignState:
    """One Map item per line still to run: the job's name and its state, with the campaign's pushed
    videos and voice in it; each line's job row, so it is followed like any job from now on."""
    assert state.job.voice is not None
    voice = state.job.voice.model_copy(update={"held": False, "cloned": False, "ephemeral": False})
    items: list[dict[str, Any]] = []
    queued: list[QueuedLine] = []
    campaign_id = state.campaign_id
    for line, record in _lines_to_run(state, store, jobs):
        attempt = int(record.get("attempts") or 0) + 1
        name = line.job_id if attempt == 1 else f"{line.job_id[:75]}-r{attempt}"  # a name is used once
        items.append({"executionName": name, "state": _line_state(line, state, voice, attempt).wire()})
        queued.append(
            QueuedLine(line.job_id, state.job.job.key, line.manifest.source, executions.arn_of(name), campaign_id)
        )
    jobs.lines_queued(queued)
    store.put_json(state.items_key, items)
    jobs.entered(state.campaign_id, Step.LIPSYNC)
    state.batches_done = not state.batch
    return state


def report(
    state: CampaignState, *, store: ObjectStore, jobs: JobRecords, registry: VoiceRegistry, sync: SyncApi
) -> dict[str, Any]:
    """``report.csv`` and ``summary.json`` for every line (this run's and earlier ones'), the voice given
    back, the campaign's row ended."""
    rows, counts = [], {"SUCCEEDED": 0, "FAILED": 0, "NOT RUN": 0}
    per_video = state.estimate.by_video if state.estimate else {}
    for line, record in _with_rows(read_lines(state.campaign_id, store), jobs):
        status = str(record.get("status") or "NOT RUN")
        status = status if status in counts else "FAILED"  # a line still RUNNING when its Map item ended
        counts[status] += 1
        rows.append(
            {
                "line": line.number,
                "name": line.name,
                "status": status,
                "output": layout.output_key(line.job_id) if status == "SUCCEEDED" else "",
                "seconds": seconds_between(parse_stamp(record.get("startedAt")), parse_stamp(record.get("finishedAt")))
                or "",
                "estimatedCost": per_video.get(_video(line, state), ""),
                "errorCode": record.get("errorCode") or "",
                "reason": record.get("reason") or "",
            }
        )
    prefix = layout.result_prefix(state.campaign_id)
    summary = {
        "campaignId": state.campaign_id,
        "status": _ending(state, counts),
        "lines": len(rows),
        "counts": counts,
        "estimatedCost": state.estimate.total if state.estimate else None,
        "costOfSucceededLines": round(
            sum(float(r["estimatedCost"] or 0) for r in rows if r["status"] == "SUCCEEDED"), 4
        ),
        "dryRun": state.dry_run,
        "batch": _batch_summary(state),
        "voice": state.job.voice.id if state.job.voice else None,
        "error": state.error,
        "finishedAt": stamp(),
        "report": f"{prefix}report.csv",
        "rows": rows,
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=REPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    store.upload_stream(f"{prefix}report.csv", io.BytesIO(text.getvalue().encode()), "text/csv")
    store.put_json(f"{prefix}summary.json", summary)
    if state.job.voice is not None and state.job.voice.held:
        release_voice(state.campaign_id, state.job.voice.id, registry=registry, sync=sync)
    _end_row(state, summary, jobs, store)
    return {key: value for key, value in summary.items() if key != "rows"}


def _batch_summary(state: CampaignState) -> dict[str, Any] | None:
    """Which sync. labs batches ran the lines, and why any line ran one by one after all."""
    if not state.batch:
        return None
    return {
        "note": state.batch_note,
        "batches": [{"id": b.id, "status": b.status, "lines": b.lines, "fallback": b.fallback} for b in state.batches],
    }


def _ending(state: CampaignState, counts: dict[str, int]) -> str:
    if state.error is not None or counts["FAILED"] or (counts["NOT RUN"] and not state.dry_run):
        return "FAILED"
    return "SUCCEEDED"


def _end_row(state: CampaignState, summary: dict[str, Any], jobs: JobRecords, store: ObjectStore) -> None:
    campaign_id, counts = state.campaign_id, summary["counts"]
    if summary["status"] == "SUCCEEDED":
        jobs.succeeded(campaign_id, f"{layout.result_prefix(campaign_id)}summary.json")
        return
    if state.error is not None:
        code, reason, _ = describe(state.error, "campaign", None)
    else:
        code = "campaign_lines_failed"
        reason = (
            f"{counts['FAILED']} of {summary['lines']} lines failed (report.csv says why); drop the same file "
            "again to run only those lines again"
        )
    store.put_json(
        layout.error_key(campaign_id), {"jobId": campaign_id, "errorCode": code, "reason": reason, **summary}
    )
    jobs.failed(campaign_id, "campaign", code, reason, layout.error_key(campaign_id))


def _lines_to_run(state: CampaignState, store: ObjectStore, jobs: JobRecords) -> list[tuple[Line, dict[str, Any]]]:
    """The lines not yet succeeded, each with its job row (empty before its first run): a file dropped
    again runs only what failed (or never ran)."""
    rows = _with_rows(read_lines(state.campaign_id, store), jobs)
    return [(line, record) for line, record in rows if record.get("status") != "SUCCEEDED"]


def _with_rows(lines: list[Line], jobs: JobRecords) -> list[tuple[Line, dict[str, Any]]]:
    """Each line with its job row (empty before its first run), read 100 at a time."""
    rows = jobs.get_many([line.job_id for line in lines])
    return [(line, rows.get(line.job_id, {})) for line in lines]


def _video(line: Line, state: CampaignState) -> str:
    return f"{line.manifest.target_key} {line.manifest.model or state.job.config.model}"


def _line_state(line: Line, state: CampaignState, voice: VoiceState, attempt: int) -> JobState:
    campaign = state.job.job
    job = JobRef(
        id=line.job_id,
        bucket=campaign.bucket,
        key=campaign.key,
        version=campaign.version,
        received_at=campaign.received_at,
        attempt=attempt,
    )
    pushed = state.pushed
    assets = Assets(
        source=pushed[line.manifest.source],
        target=pushed[line.manifest.target_key],
        started_at=now(),
        finished_at=now(),
    )
    config: RunConfig = job_config(state.job.config, line.manifest)
    return JobState(job=job, manifest=line.manifest, config=config, assets=assets, voice=voice)


def first_state(
    job: JobRef,
    lines: list[Line],
    config: RunConfig,
    *,
    max_concurrency: int,
    max_cost: float | None,
    dry_run: bool,
    batch: bool = False,
) -> CampaignState:
    """The campaign's state as ingest starts it: the first line's manifest speaks for the campaign's
    source and voice."""
    manifest = lines[0].manifest
    return CampaignState(
        job=JobState(job=job, manifest=manifest, config=job_config(config, manifest)),
        max_concurrency=max_concurrency,
        max_cost=max_cost,
        dry_run=dry_run,
        batch=batch,
    )


def campaign_lines(campaign_id: str, parsed: list[Any]) -> list[Line]:
    """The lines as the campaign keeps them (``campaigns/<id>/lines.json``), each with its job id."""
    return [
        Line(number=line.number, name=line.name, job_id=line_job_id(campaign_id, line.name), manifest=line.manifest)
        for line in parsed
    ]


def start_campaign(
    key: str,
    version: str,
    info: ObjectInfo,
    *,
    store: ObjectStore,
    executions: Executions,
    jobs: JobRecords,
    config: RunConfig,
    max_concurrency: int,
    batch: bool = False,
) -> IngestOutcome:
    """Read and check the whole campaign file; on any problem, ``failed/<campaign>/error.json`` lists
    every one by line and nothing starts. Otherwise keep its lines and start the campaign's execution."""
    campaign_id = job_id_for(store.bucket, key, info.etag)  # by content: the same file again, the same campaign
    kind = CAMPAIGN_SUFFIXES.get(layout.suffix(key), "json")
    try:
        raw = store.first_bytes(key, MAX_CAMPAIGN_BYTES + 1)  # one byte over is enough for the size check
        parsed = read_campaign(raw, kind, _metadata_fields(info.metadata))
        first = parsed.lines[0].manifest
        for target in {first.source} | {line.manifest.target_key for line in parsed.lines}:
            checked_video("source" if target == first.source else "target", target, store, config.max_upload_bytes)
    except CampaignInvalid as invalid:
        document = reject(campaign_id, key, invalid.as_input_error(), store=store, jobs=jobs)
        document["problems"] = invalid.problems
        store.put_json(layout.error_key(campaign_id), document)
        return IngestOutcome(campaign_id, "rejected", str(invalid), document)
    except JobInputError as error:
        document = reject(campaign_id, key, error, store=store, jobs=jobs)
        return IngestOutcome(campaign_id, "rejected", str(error), document)
    lines = campaign_lines(campaign_id, parsed.lines)
    store.put_json(lines_key(campaign_id), [line.model_dump(mode="json") for line in lines])
    job = JobRef(id=campaign_id, bucket=store.bucket, key=key, version=version, received_at=now())
    state = first_state(
        job,
        lines,
        config,
        max_concurrency=max_concurrency,
        max_cost=parsed.settings.max_cost,
        dry_run=parsed.settings.dry_run,
        batch=batch if parsed.settings.batch is None else parsed.settings.batch,
    )
    run = jobs.campaign_run(campaign_id, key, first.source)
    if run is None:
        return IngestOutcome(campaign_id, "duplicate", "a run of this campaign is under way")
    arn = executions.start(f"{campaign_id}-{run}", state.wire())
    if arn is not None:
        jobs.started_as(campaign_id, arn)
    return IngestOutcome(campaign_id, "started")


def _metadata_fields(metadata: dict[str, str]) -> dict[str, Any]:
    """A CSV or JSON Lines campaign's own fields, from its object metadata (``x-amz-meta-source`` ...)."""
    names = (
        "source",
        "max-cost",
        "dry-run",
        "batch",
        "voice",
        "voice-id",
        "voice-name",
        "model",
        "sync-mode",
        "speech",
    )
    fields: dict[str, Any] = {name.replace("-", "_"): decoded(metadata[name]) for name in names if name in metadata}
    for flag in ("dry_run", "batch"):
        if flag in fields:
            fields[flag] = fields[flag].strip().lower() in ("1", "true", "yes")
    return fields


def progress(campaign_id: str, *, store: ObjectStore, jobs: JobRecords) -> dict[str, Any]:
    """How far a campaign's lines are: done, failed, in flight, waiting (what ``GET /jobs/{id}`` and
    ``revoice campaign status`` show), and its report's keys once written."""
    counts = {"succeeded": 0, "failed": 0, "running": 0, "waiting": 0}
    for _, record in _with_rows(read_lines(campaign_id, store), jobs):
        status, step = record.get("status"), record.get("step")
        if status == "SUCCEEDED":
            counts["succeeded"] += 1
        elif status in ("FAILED", "REJECTED"):
            counts["failed"] += 1
        elif status == "RUNNING" and step not in (None, "queued"):
            counts["running"] += 1
        else:
            counts["waiting"] += 1
    prefix = layout.result_prefix(campaign_id)
    return {
        "lines": sum(counts.values()),
        **counts,
        "report": f"{prefix}report.csv",
        "summary": f"{prefix}summary.json",
    }
