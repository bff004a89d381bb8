"""A campaign through sync. labs' Batch API, with the ports in memory: its lines split into batches, each
line's item carrying its generation once its batch ended, and every way a line falls back to one by one
(a plan without the API, too few lines, a row without a generation), with nothing sent twice."""

from __future__ import annotations

from typing import Any

from revoice.pipeline.campaign_batch import BATCH_FIELD, BatchLimits, run_batches
from revoice.pipeline.campaign_run import CampaignState
from revoice.pipeline.lipsync import lipsync
from revoice.pipeline.state import JobState
from tests.fakes import World
from tests.unit.test_campaign_run import _started, _through_plan

LIMITS = BatchLimits(min_requests=2, max_requests=2, poll_seconds=7)  # the fixture's 3 lines: one batch of 2


def _batching(world: World) -> CampaignState:
    state = _through_plan(world, _started(world, {"batch": "true"}))
    assert state.batch
    assert not state.batches_done  # the ASL goes to "Run batches"
    return state


def _run_until_done(world: World, state: CampaignState, limits: BatchLimits = LIMITS) -> CampaignState:
    for _ in range(5):
        state = run_batches(state, store=world.bucket, sync=world.sync, limits=limits)
        if state.batches_done:
            return state
        assert state.batch_wait_seconds == limits.poll_seconds
    raise AssertionError("the batches never ended")


def _items(world: World, state: CampaignState) -> list[dict[str, Any]]:
    return list(world.bucket.read_json(state.items_key))


def test_a_campaign_sends_its_lines_as_batches_and_its_items_then_carry_their_generations(world: World) -> None:
    state = _run_until_done(world, _batching(world), BatchLimits(min_requests=2, max_requests=500))
    [sent] = world.sync.batches.values()
    assert [request.request_id for request in sent] == [item["executionName"] for item in _items(world, state)]
    payload = sent[0].payload.wire()
    assert payload["input"][1]["type"] == "text"  # the script spoken by sync. labs inside the batch
    assert payload["input"][1]["provider"]["script"] == "Hello Ada."
    assert "webhookUrl" not in payload
    assert state.batch_wait_seconds == 0
    for item in _items(world, state):
        line = JobState.model_validate(item["state"])
        assert line.generation is not None
        assert line.speech_in_generation
        assert not line.awaits_callback
    assert world.sync.batch_posts == 1


def test_a_line_with_its_generation_only_checks_it_and_takes_no_slot(world: World) -> None:
    state = _run_until_done(world, _batching(world), BatchLimits(min_requests=2, max_requests=500))
    line = JobState.model_validate(_items(world, state)[0]["state"])
    slots = world.slots
    created_before = len(world.sync.requests)
    line = lipsync(line, sync=world.sync, jobs=world.jobs, slots=slots, wake=lambda token, generation: True)
    assert line.generation is not None
    assert line.generation.succeeded
    assert len(world.sync.requests) == created_before  # no generation of its own
    assert slots.holders() == set()


def test_the_remainder_too_small_for_a_batch_runs_one_by_one(world: World) -> None:
    state = _run_until_done(world, _batching(world))
    items = _items(world, state)
    assert [len(batch) for batch in world.sync.batches.values()] == [2]
    assert [JobState.model_validate(item["state"]).generation is not None for item in items] == [True, True, False]
    assert BATCH_FIELD not in items[2]


def test_a_plan_without_the_batch_api_runs_every_line_one_by_one_and_says_why(world: World) -> None:
    world.sync.batch_api = False
    state = _run_until_done(world, _batching(world), BatchLimits(min_requests=2, max_requests=500))
    assert "402" in str(state.batch_note)
    assert all(JobState.model_validate(item["state"]).generation is None for item in _items(world, state))
    assert world.sync.batch_posts == 1  # asked once, not every round


def test_too_few_lines_for_a_batch_run_one_by_one_without_asking(world: World) -> None:
    state = _run_until_done(world, _batching(world), BatchLimits(min_requests=20))
    assert "fewer than the 20 a batch needs" in str(state.batch_note)
    assert world.sync.batch_posts == 0


def test_at_the_batch_limit_a_batch_waits_for_the_next_round(world: World) -> None:
    world.sync.batch_busy = 1
    state = run_batches(_batching(world), store=world.bucket, sync=world.sync, limits=LIMITS)
    assert not state.batches_done
    assert state.batches[0].id is None
    state = _run_until_done(world, state)
    assert world.sync.batch_posts == 2
    assert len(world.sync.batches) == 1


def test_a_batch_whose_answer_was_lost_is_found_not_sent_again(world: World) -> None:
    world.sync.batch_lost_answers = 1
    state = _run_until_done(world, _batching(world))
    assert len(world.sync.batches) == 1  # the one the lost answer made, adopted
    assert world.sync.batch_posts == 1
    assert state.batches[0].id in world.sync.batches


def test_a_request_the_batch_never_started_runs_one_by_one(world: World) -> None:
    state = _batching(world)
    world.sync.unstarted = {_items(world, state)[1]["executionName"]}
    state = _run_until_done(world, state, BatchLimits(min_requests=2, max_requests=500))
    generations = [JobState.model_validate(item["state"]).generation for item in _items(world, state)]
    assert [g is not None for g in generations] == [True, False, True]
    assert "1 of its 3 requests got no generation" in str(state.batches[0].fallback)
