"""The generation-slot rules: never more holders than the plan allows, idempotent both ways, the line
served longest-waiting first, a slot passed in one write. Here on the in-memory lease; the same tests
run on DynamoDB's through the local stack's moto server (``tests/adapters/test_slot_table.py``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from revoice.pipeline.errors import BusyStepError, TransientStepError, from_sync
from revoice.pipeline.ports import GenerationStart, SlotLease
from revoice.pipeline.slots import GenerationSlots, Wake, WokenWith
from revoice.sync.errors import SyncApiError
from tests.fakes import MemorySlotLease

LeaseFor = Callable[[int], SlotLease]


@pytest.fixture
def lease_for() -> LeaseFor:
    return MemorySlotLease


def _recording(woken: list[str]) -> Wake:
    def wake(token: str, generation: WokenWith | None) -> bool:
        woken.append(token)
        return True

    return wake


def test_a_job_beyond_the_limit_is_refused_until_a_slot_is_given_back(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(2))
    assert [slots.acquire(job) for job in ("a", "b", "c")] == [True, True, False]
    assert slots.acquire("a")  # a retried step keeps its slot and takes no second one
    assert slots.holders() == {"a", "b"}
    slots.release("a")
    slots.release("a")  # giving back twice (store, then failure) is harmless
    slots.release("never-held")
    assert slots.acquire("c")
    assert slots.holders() == {"b", "c"}


def test_racing_jobs_never_hold_more_slots_than_the_plan_allows(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(3))
    with ThreadPoolExecutor(max_workers=16) as pool:
        granted = list(pool.map(slots.acquire, [f"job-{n}" for n in range(64)]))
    assert granted.count(True) == 3
    assert len(slots.holders()) == 3


def test_stale_holders_are_named_and_reclaimed(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(3))
    for job in ("running", "ended-1", "ended-2"):
        slots.acquire(job)
    assert slots.stale(lambda job: job == "running") == ["ended-1", "ended-2"]
    assert slots.holders() == {"running", "ended-1", "ended-2"}  # naming them changes nothing
    woken: list[str] = []
    slots.wait("waiting", "2026-01-01T00:00:00Z", "token-waiting")
    slots.wait("ended-in-line", "2026-01-01T00:00:00Z", "token-ended")  # its end event was lost too
    assert slots.reclaim(lambda job: job in ("running", "waiting"), _recording(woken)) == [
        "ended-1",
        "ended-2",
    ]
    assert slots.holders() == {"running", "waiting"}  # a reclaimed slot goes to the line at once
    assert woken == ["token-waiting"]


def test_the_line_is_served_longest_waiting_first_and_only_when_a_slot_is_free(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("second", "2026-01-01T00:00:02Z", "token-2")
    slots.wait("first", "2026-01-01T00:00:01Z", "token-1")
    slots.wait("third", "2026-01-01T00:00:03Z", "token-3")
    woken: list[str] = []
    assert slots.wake_next(_recording(woken)) is None  # the one slot is taken
    assert slots.hand_over("running", _recording(woken)) == "first"
    assert woken == ["token-1"]
    assert [w.job_id for w in slots.waiting()] == ["second", "third"]
    assert slots.holders() == {"first"}  # the slot went with the wake-up...
    assert not slots.acquire("newcomer")  # ...so a job arriving before the woken one asks cannot take it
    assert slots.acquire("first")


def test_a_slot_passes_on_past_waiters_that_stopped_waiting_and_is_given_back_when_no_one_waits(
    lease_for: LeaseFor,
) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("timed-out", "2026-01-01T00:00:01Z", "token-old")
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live")
    assert slots.hand_over("running", lambda token, generation: token == "token-live") == "waiting"
    assert slots.holders() == {"waiting"}
    assert slots.hand_over("waiting", _recording([])) is None
    assert slots.holders() == set()


def test_a_job_handed_a_slot_wakes_with_the_generation_started_for_it(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    request = {"model": "lipsync-2", "input": [{"type": "video", "assetId": "a"}, {"type": "audio", "url": "u"}]}
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token", GenerationStart(request, "key"))
    seen: list[tuple[str, Any]] = []

    def wake(token: str, generation: WokenWith | None) -> bool:
        seen.append(("woken", generation))
        return True

    def start(waiting: GenerationStart) -> WokenWith:
        seen.append(("started", waiting.idempotency_key))
        assert waiting.request == request  # as the job left it in line
        return {"id": "gen-1", "status": "PENDING"}

    assert slots.hand_over("running", wake, start) == "waiting"
    assert seen == [("started", "key"), ("woken", {"id": "gen-1", "status": "PENDING"})]
    assert slots.holders() == {"waiting"}


def _one_in_line(lease_for: LeaseFor) -> GenerationSlots:
    """One slot, held by "running"; "waiting" in line with the generation it will ask for."""
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token", GenerationStart({"model": "lipsync-2"}, "key"))
    return slots


def _waking_into(outputs: list[WokenWith | None]) -> Wake:
    def wake(token: str, generation: WokenWith | None) -> bool:
        outputs.append(generation)
        return True

    return wake


def test_a_job_the_hand_over_could_not_start_wakes_to_ask_itself(lease_for: LeaseFor) -> None:
    slots, outputs = _one_in_line(lease_for), list[WokenWith | None]()
    assert slots.hand_over("running", _waking_into(outputs), lambda waiting: None) == "waiting"
    assert outputs == [None]
    assert slots.holders() == {"waiting"}


def test_a_head_start_that_breaks_still_wakes_the_job_to_ask_for_its_generation(lease_for: LeaseFor) -> None:
    slots, outputs = _one_in_line(lease_for), list[WokenWith | None]()

    def start(waiting: GenerationStart) -> WokenWith:
        raise RuntimeError("the function ran out of time")

    with pytest.raises(RuntimeError):
        slots.hand_over("running", _waking_into(outputs), start)
    assert outputs == [None]  # not left asleep in a slot it holds until its wait times out
    assert slots.holders() == {"waiting"}


def test_a_job_whose_wait_timed_out_keeps_the_slot_and_generation_it_was_handed(lease_for: LeaseFor) -> None:
    """Its wait timed out just before the hand-over: asking again, it finds the slot held and the generation
    (same Idempotency-Key); passing the slot on would leave its generation running outside the plan's count."""
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("timed-out", "2026-01-01T00:00:01Z", "token-old", GenerationStart({"model": "lipsync-2"}, "key-old"))
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live", GenerationStart({"model": "lipsync-2"}, "key-live"))
    started: list[str] = []

    def start(waiting: GenerationStart) -> WokenWith:
        started.append(waiting.idempotency_key)
        return {"id": f"gen-{waiting.idempotency_key}"}

    assert slots.hand_over("running", lambda token, generation: token == "token-live", start) == "timed-out"
    assert started == ["key-old"]
    assert slots.holders() == {"timed-out"}
    assert slots.acquire("timed-out")  # its own request: it holds the slot
    assert [w.job_id for w in slots.waiting()] == ["waiting"]


def test_a_slot_passes_on_past_a_job_that_stopped_waiting_before_its_generation_started(
    lease_for: LeaseFor,
) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("timed-out", "2026-01-01T00:00:01Z", "token-old", GenerationStart({"model": "lipsync-2"}, "key-old"))
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live", GenerationStart({"model": "lipsync-2"}, "key-live"))
    woken: list[tuple[str, WokenWith | None]] = []

    def wake(token: str, generation: WokenWith | None) -> bool:
        woken.append((token, generation))
        return token == "token-live"

    assert slots.hand_over("running", wake, lambda waiting: None) == "waiting"
    assert woken == [("token-old", None), ("token-live", None)]
    assert slots.holders() == {"waiting"}


def test_an_ended_job_leaves_the_line_so_no_hand_over_starts_a_generation_for_it(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("stopped", "2026-01-01T00:00:01Z", "token-stopped", GenerationStart({"model": "lipsync-2"}, "k1"))
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live", GenerationStart({"model": "lipsync-2"}, "k2"))
    assert slots.job_ended("stopped", _recording([])) is None  # it held no slot: the one slot stays taken
    started: list[str] = []

    def start(waiting: GenerationStart) -> WokenWith:
        started.append(waiting.idempotency_key)
        return {"id": "gen"}

    assert slots.hand_over("running", _recording([]), start) == "waiting"
    assert started == ["k2"]


def test_a_waiter_that_already_holds_a_slot_is_woken_and_the_slot_goes_to_the_next(lease_for: LeaseFor) -> None:
    """Handed a slot while its wait had timed out, it asked again and joined the line once more."""
    slots = GenerationSlots(lease_for(2))
    assert slots.acquire("running")
    assert slots.acquire("rejoined")
    slots.wait("rejoined", "2026-01-01T00:00:01Z", "token-rejoined")
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-waiting")
    woken: list[str] = []
    assert slots.hand_over("running", _recording(woken)) == "waiting"
    assert woken == ["token-rejoined", "token-waiting"]
    assert slots.holders() == {"rejoined", "waiting"}


def test_a_job_woken_to_a_free_slot_it_does_not_hold_yet_starts_its_generation_itself(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    request = {"model": "lipsync-2"}
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token", GenerationStart(request, "key"))
    started: list[GenerationStart] = []
    assert slots.hand_over("never-held", _recording([]), started.append) == "waiting"
    assert started == []  # another job may take the free slot first: starting here could exceed the plan
    assert slots.holders() == set()


def test_handing_over_a_slot_already_given_back_wakes_no_one_while_the_slots_are_taken(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    assert slots.acquire("running")
    slots.wait("waiting", "2026-01-01T00:00:01Z", "token")
    woken: list[str] = []
    assert slots.hand_over("ended-before", _recording(woken)) is None  # the store step, after the webhook
    assert woken == []
    assert slots.holders() == {"running"}


class _WatchedLease:
    """A lease, with its holders read back after every write, and a write slipped in before the first pass."""

    def __init__(self, lease: SlotLease, before_first_pass: Callable[[], None] = lambda: None) -> None:
        self._lease = lease
        self._before_first_pass = before_first_pass
        self.sizes: list[int] = []
        self.reads = 0

    def holders(self) -> set[str]:
        self.reads += 1
        return self._lease.holders()

    def _watch(self) -> None:
        self.sizes.append(len(self._lease.holders()))

    def acquire(self, job_id: str) -> bool:
        held = self._lease.acquire(job_id)
        self._watch()
        return held

    def release(self, job_id: str) -> None:
        self._lease.release(job_id)
        self._watch()

    def replace_holders(self, read: set[str], holders: set[str]) -> bool:
        self._before_first_pass()
        self._before_first_pass = lambda: None
        replaced = self._lease.replace_holders(read, holders)
        self._watch()
        return replaced

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lease, name)


def test_a_slot_passes_in_one_write_never_listing_a_holder_beyond_the_limit(lease_for: LeaseFor) -> None:
    watched = _WatchedLease(lease_for(2))
    slots = GenerationSlots(watched)
    assert slots.acquire("first")
    assert slots.acquire("second")
    for n in range(4):
        slots.wait(f"waiting-{n}", f"2026-01-01T00:00:0{n}Z", f"token-{n}")
    holder = "first"
    for n in range(4):
        assert slots.hand_over(holder, _recording([])) == f"waiting-{n}"
        holder = f"waiting-{n}"
    assert slots.holders() == {"second", "waiting-3"}
    assert max(watched.sizes) == 2


def test_a_quiet_hand_over_reads_the_holders_once(lease_for: LeaseFor) -> None:
    watched = _WatchedLease(lease_for(1))
    slots = GenerationSlots(watched)
    assert slots.acquire("ending")
    slots.wait("waiting", "2026-01-01T00:00:01Z", "token")
    watched.reads = 0
    assert slots.hand_over("ending", _recording([])) == "waiting"
    assert watched.reads == 1  # the pass's conditional write starts from the holders hand_over read


def test_a_pass_that_races_another_write_is_made_again_on_the_holders_as_they_are(lease_for: LeaseFor) -> None:
    lease = lease_for(2)
    slots = GenerationSlots(lease)
    assert slots.acquire("ending")
    assert slots.acquire("other")
    slots.wait("waiting", "2026-01-01T00:00:01Z", "token")
    watched = _WatchedLease(lease, before_first_pass=lambda: slots.release("other"))
    raced = GenerationSlots(watched)
    assert raced.hand_over("ending", _recording([])) == "waiting"
    assert slots.holders() == {"waiting"}  # "other" gave its slot back in between, and stays gone


def test_a_waiter_that_stopped_waiting_is_skipped_for_the_next(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
    slots.wait("timed-out", "2026-01-01T00:00:01Z", "token-old")
    slots.wait("waiting", "2026-01-01T00:00:02Z", "token-live")
    tried: list[str] = []

    def wake(token: str, generation: WokenWith | None) -> bool:
        tried.append(token)
        return token == "token-live"

    assert slots.wake_next(wake) == "waiting"
    assert tried == ["token-old", "token-live"]
    assert slots.waiting() == []


def test_asking_again_keeps_the_place_in_line_and_refreshes_the_token(lease_for: LeaseFor) -> None:
    slots = GenerationSlots(lease_for(1))
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
