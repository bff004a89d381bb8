"""A campaign's own steps with the ports in memory: the door, the estimate and its refusals, the plan
(what runs again, under which names and keys), and the report."""

from __future__ import annotations

import csv
import io

import pytest

from revoice.pipeline.campaign_run import CampaignState, estimate, plan_lines, push_videos, report, start_campaign
from revoice.pipeline.errors import JobInputError
from revoice.pipeline.ingest import IngestOutcome
from revoice.pipeline.state import RunConfig
from revoice.pipeline.voice import ensure_voice
from tests.fakes import World
from tests.unit.conftest import SOURCE

CSV = b"script,output_name\nHello Ada.,ada\nHello Bob.,bob\nHello Cy.,cy\n"


def _start(world: World, key: str) -> IngestOutcome:
    info = world.bucket.head(key)
    assert info is not None
    return start_campaign(
        key,
        "v1",
        info,
        store=world.bucket,
        executions=world.executions,
        jobs=world.jobs,
        config=RunConfig(),
        max_concurrency=12,
    )


def _started(world: World, metadata: dict[str, str] | None = None) -> CampaignState:
    world.bucket.put("inbox/spring.csv", CSV, "text/csv", source=SOURCE, **(metadata or {}))
    outcome = _start(world, "inbox/spring.csv")
    assert outcome.status == "started", outcome
    return CampaignState.model_validate(list(world.executions.started.values())[-1])


def _through_plan(world: World, state: CampaignState) -> CampaignState:
    state = push_videos(state, store=world.bucket, sync=world.sync, jobs=world.jobs)
    state = estimate(state, store=world.bucket, sync=world.sync, jobs=world.jobs)
    state.job = ensure_voice(state.job, sync=world.sync, registry=world.voices, jobs=world.jobs)
    return plan_lines(state, store=world.bucket, jobs=world.jobs, executions=world.executions)


def test_a_campaign_plans_one_item_per_line_with_the_campaigns_videos_and_voice(world: World) -> None:
    state = _through_plan(world, _started(world))
    items = world.bucket.read_json(state.items_key)
    assert [item["executionName"] for item in items] == [f"{state.campaign_id}--{n}" for n in ("ada", "bob", "cy")]
    voices = {item["state"]["voice"]["id"] for item in items}
    assets = {item["state"]["assets"]["source"]["assetId"] for item in items}
    assert len(voices) == len(assets) == 1  # chosen and pushed once, for every line
    assert not items[0]["state"]["voice"]["held"]  # the campaign holds the voice, not each line
    assert len(world.sync.assets) == 1
    assert state.estimate is not None
    assert state.estimate.total == 1.5  # 3 lines x 0.5, from one estimate of the one target
    assert len(world.sync.estimates) == 1
    assert world.jobs.records[f"{state.campaign_id}--ada"]["status"] == "RUNNING"


def test_a_campaign_over_its_max_cost_is_refused_and_a_dry_run_plans_nothing(world: World) -> None:
    state = _started(world, {"max-cost": "1.0"})
    state = push_videos(state, store=world.bucket, sync=world.sync, jobs=world.jobs)
    with pytest.raises(JobInputError) as refused:
        estimate(state, store=world.bucket, sync=world.sync, jobs=world.jobs)
    assert refused.value.code == "campaign_over_budget"
    assert "1.50 USD" in refused.value.reason
    dry = World()
    dry.bucket.put(SOURCE, world.bucket.objects[SOURCE])
    state = _started(dry, {"dry-run": "true"})
    state = estimate(
        push_videos(state, store=dry.bucket, sync=dry.sync, jobs=dry.jobs),
        store=dry.bucket,
        sync=dry.sync,
        jobs=dry.jobs,
    )
    assert not state.run
    assert dry.bucket.read_json(f"results/{state.campaign_id}/estimate.json")["estimatedCost"] == 1.5


def test_a_rerun_plans_only_the_lines_that_did_not_succeed_under_new_names_and_keys(world: World) -> None:
    state = _through_plan(world, _started(world))
    campaign = state.campaign_id
    world.jobs.succeeded(f"{campaign}--ada", "results/x/result.json")
    world.jobs.succeeded(f"{campaign}--cy", "results/x/result.json")
    world.jobs.failed(f"{campaign}--bob", "lipsync", "generation_failed", "it failed", "failed/x/error.json")
    world.jobs.records[campaign]["status"] = "FAILED"
    state = _through_plan(world, _started(world))
    [item] = world.bucket.read_json(state.items_key)
    assert item["executionName"] == f"{campaign}--bob-r2"
    assert item["state"]["job"]["attempt"] == 2  # so its TTS and generation get a new Idempotency-Key
    assert world.jobs.records[f"{campaign}--bob"]["status"] == "RUNNING"
    assert "errorCode" not in world.jobs.records[f"{campaign}--bob"]


def test_a_run_under_way_is_not_started_twice(world: World) -> None:
    _started(world)
    assert _start(world, "inbox/spring.csv").status == "duplicate"


def test_the_report_lists_every_line_and_fails_the_campaign_when_one_failed(world: World) -> None:
    state = _through_plan(world, _started(world))
    campaign = state.campaign_id
    world.jobs.succeeded(f"{campaign}--ada", "r")
    world.jobs.succeeded(f"{campaign}--bob", "r")
    world.jobs.failed(f"{campaign}--cy", "speech", "elevenlabs_quota_exceeded", "quota", "failed/x/error.json")
    summary = report(state, store=world.bucket, jobs=world.jobs, registry=world.voices, sync=world.sync)
    assert summary["counts"] == {"SUCCEEDED": 2, "FAILED": 1, "NOT RUN": 0}
    assert summary["costOfSucceededLines"] == 1.0
    rows = list(csv.DictReader(io.StringIO(world.bucket.objects[summary["report"]].decode())))
    assert [(r["name"], r["status"], r["errorCode"]) for r in rows] == [
        ("ada", "SUCCEEDED", ""),
        ("bob", "SUCCEEDED", ""),
        ("cy", "FAILED", "elevenlabs_quota_exceeded"),
    ]
    assert rows[0]["output"] == f"results/{campaign}/ada/output.mp4"
    assert world.jobs.records[campaign]["errorCode"] == "campaign_lines_failed"
    assert world.voices.get(state.job.voice.id).holders == frozenset()  # type: ignore[union-attr]


def test_a_bad_file_is_refused_with_every_problem_and_starts_nothing(world: World) -> None:
    world.bucket.put("inbox/bad.csv", b"script,output_name\n,a\nFine.,Not Valid\n", "text/csv", source=SOURCE)
    outcome = _start(world, "inbox/bad.csv")
    assert outcome.status == "rejected"
    assert outcome.error is not None
    assert [(p["line"], p["field"]) for p in outcome.error["problems"]] == [(2, "script"), (3, "output_name")]
    assert world.executions.started == {}
