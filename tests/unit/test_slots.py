"""The generation-slot lease: never more holders than the plan allows, idempotent both ways, and
atomic under racing writers (through the local stack's moto server, as on DynamoDB)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import boto3
import pytest

from revoice.pipeline.errors import BusyStepError, TransientStepError, from_sync
from revoice.pipeline.slots import GenerationSlots
from revoice.sync.errors import SyncApiError
from revoice_local.stack.moto_server import LocalMotoServer


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    server = LocalMotoServer().start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    with mock.patch.dict(os.environ, env):
        dynamodb = boto3.resource("dynamodb", endpoint_url=server.url)
        created = dynamodb.create_table(
            TableName="slots",
            KeySchema=[{"AttributeName": "slot", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "slot", "AttributeType": "S"},
                {"AttributeName": "entry", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield created
    server.stop()


def _recording(woken: list[str]) -> Callable[[str], bool]:
    def wake(token: str) -> bool:
        woken.append(token)
        return True

    return wake


def test_a_job_beyond_the_limit_is_refused_until_a_slot_is_given_back(table: Any) -> None:
    slots = GenerationSlots(table, limit=2, name="limit")
    assert [slots.acquire(job) for job in ("a", "b", "c")] == [True, True, False]
    assert slots.acquire("a")  # a retried step keeps its slot and takes no second one
    assert slots.holders() == {"a", "b"}
    slots.release("a")
    slots.release("a")  # giving back twice (store, then failure) is harmless
    slots.release("never-held")
    assert slots.acquire("c")
    assert slots.holders() == {"b", "c"}


def test_racing_jobs_never_hold_more_slots_than_the_plan_allows(table: Any) -> None:
    slots = GenerationSlots(table, limit=3, name="race")
    with ThreadPoolExecutor(max_workers=16) as pool:
        granted = list(pool.map(slots.acquire, [f"job-{n}" for n in range(64)]))
    assert granted.count(True) == 3
    assert len(slots.holders()) == 3


def test_stale_holders_are_named_and_reclaimed(table: Any) -> None:
    slots = GenerationSlots(table, limit=3, name="stale")
    for job in ("running", "ended-1", "ended-2"):
        slots.acquire(job)
    assert slots.stale(lambda job: job == "running") == ["ended-1", "ended-2"]
    assert slots.holders() == {"running", "ended-1", "ended-2"}  # naming them changes nothing
    woken: list[str] = []
    slots.wait("waiting", "2026-01-01T00:00:00Z", "token-waiting")
    assert slots.reclaim(lambda job: job == "running", _recording(woken)) == [
        "ended-1",
        "ended-2",
    ]
    assert slots.holders() == {"running"}
    assert woken == ["token-waiting"]  # a reclaimed slot goes to the line at once


def test_the_line_is_served_longest_waiting_first_and_only_when_a_slot_is_free(table: Any) -> None:
    slots = GenerationSlots(table, limit=1, name="line")
    assert slots.acquire("running")
    slots.wait("second", "2026-01-01T00:00:02Z", "token-2")
    slots.wait("first", "2026-01-01T00:00:01Z", "token-1")
    slots.wait("third", "2026-01-01T00:00:03Z", "token-3")
    woken: list[str] = []
    assert slots.wake_next(_recording(woken)) is None  # the one slot is taken
    assert slots.hand_over("running", _recording(woken)) == "first"
    assert woken == ["token-1"]
    assert [w.job_id for w in slots.waiting()] == ["second", "third"]


def test_a_waiter_that_stopped_waiting_is_skipped_for_the_next(table: Any) -> None:
    slots = GenerationSlots(table, limit=1, name="stale-line")
    slots.wait("timed-out", "2026-01-01T00:00:01Z", "token-old")
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live")
    tried: list[str] = []

    def wake(token: str) -> bool:
        tried.append(token)
        return token == "token-live"

    assert slots.wake_next(wake) == "waiting"
    assert tried == ["token-old", "token-live"]
    assert slots.waiting() == []


def test_asking_again_keeps_the_place_in_line_and_refreshes_the_token(table: Any) -> None:
    slots = GenerationSlots(table, limit=1, name="refresh")
    assert slots.acquire("running")
    slots.wait("early", "2026-01-01T00:00:01Z", "token-a")
    slots.wait("late", "2026-01-01T00:00:02Z", "token-b")
    slots.wait("early", "2026-01-01T00:00:01Z", "token-a2")  # its wait timed out; it asked again
    assert [(w.job_id, w.task_token) for w in slots.waiting()] == [("early", "token-a2"), ("late", "token-b")]
    slots.leave_line("early", "2026-01-01T00:00:01Z")
    assert [w.job_id for w in slots.waiting()] == ["late"]


@pytest.mark.parametrize("code", ["rate_limit_exceeded", "concurrency_limit_reached"])
def test_a_429_at_the_plans_limits_is_a_busy_error_the_state_machine_waits_out(code: str) -> None:
    error = from_sync(SyncApiError(429, code, "slow down", retry_after=3), "synthesizing the script")
    assert type(error) is BusyStepError
    assert isinstance(error, TransientStepError)
    assert error.code == code


def test_other_429s_and_5xx_stay_ordinary_transient_errors() -> None:
    assert type(from_sync(SyncApiError(429, "too_many_requests", "x"), "x")) is TransientStepError
    assert type(from_sync(SyncApiError(503, "service_unavailable", "x"), "x")) is TransientStepError
