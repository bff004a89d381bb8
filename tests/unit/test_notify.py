"""Outbound notifications: signed like sync. labs' webhooks, retried while the receiver fails, refused or
given up on (and recorded) without ever touching the job, checked against the URL rules at every attempt."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from revoice.pipeline.errors import JobInputError
from revoice.pipeline.notify import SIGNATURE_HEADER, deliver
from revoice.pipeline.outcome import succeeded
from revoice.sync.webhook import verify
from tests.fakes import MemoryJobs
from tests.unit.test_job_events import RESULT

SECRET = "notify-secret-for-tests"
URL = "https://hooks.example.com/revoice"
OUTCOME = succeeded(RESULT, result_key="results/launch-0123456789abcdef/result.json", notify=True)


class Receiver:
    """Answers each POST with the next of ``statuses`` (the last one ever after), or raises ``error``."""

    def __init__(self, *statuses: int, error: Exception | None = None) -> None:
        self.statuses, self.error = list(statuses), error
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return httpx.Response(self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])


class Clock:
    """Time that passes only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _deliver(
    receiver: Receiver,
    jobs: MemoryJobs,
    clock: Clock,
    *,
    budget: float = 60,
    url: str = URL,
    trusted: frozenset[str] = frozenset(),
    resolver: Callable[[str], list[str]] = lambda host: ["93.184.216.34"],
) -> dict[str, Any]:
    return deliver(
        OUTCOME,
        url,
        secret=SECRET,
        http=httpx.Client(transport=httpx.MockTransport(receiver)),
        jobs=jobs,
        trusted_hosts=trusted,
        budget_seconds=budget,
        resolver=resolver,
        sleep=clock.sleep,
        clock=lambda: clock.now,
    )


def test_a_receiver_that_first_answers_500_gets_the_outcome_signed_on_the_second_try() -> None:
    receiver, jobs, clock = Receiver(500, 204), MemoryJobs(), Clock()
    delivery = _deliver(receiver, jobs, clock)
    assert (delivery["status"], delivery["attempts"], delivery["lastStatus"]) == ("delivered", 2, 204)
    assert clock.slept == [1.0]
    last = receiver.requests[-1]
    body = json.loads(last.content)
    assert (body["type"], body["job"]) == ("Job Succeeded", OUTCOME.wire())
    assert verify({"sync-signature": last.headers[SIGNATURE_HEADER]}, last.content, SECRET)
    assert jobs.records[OUTCOME.job_id]["notification"] == delivery


def test_a_receiver_that_never_answers_is_given_up_on_within_the_budget_and_recorded() -> None:
    receiver, jobs, clock = Receiver(error=httpx.ConnectError("refused")), MemoryJobs(), Clock()
    delivery = _deliver(receiver, jobs, clock, budget=30)
    assert delivery["status"] == "given_up"
    assert clock.slept == [1.0, 2.0, 4.0, 8.0]  # doubling, and the next wait would pass the budget
    assert delivery["attempts"] == 5
    assert "no answer" in delivery["lastError"]
    assert jobs.records[OUTCOME.job_id]["notification"]["status"] == "given_up"
    assert "status" not in jobs.records[OUTCOME.job_id]  # the job itself is not touched


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_receiver_that_refuses_is_not_asked_again(status: int) -> None:
    receiver, clock = Receiver(status), Clock()
    delivery = _deliver(receiver, MemoryJobs(), clock)
    assert (delivery["status"], delivery["attempts"], clock.slept) == ("refused", 1, [])


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_busy_or_broken_receivers_are_asked_again(status: int) -> None:
    delivery = _deliver(Receiver(status, 200), MemoryJobs(), Clock())
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


def test_an_address_that_turned_private_is_refused_at_delivery_and_nothing_is_sent() -> None:
    receiver = Receiver(204)
    delivery = _deliver(receiver, MemoryJobs(), Clock(), resolver=lambda host: ["10.0.0.7"])
    assert delivery["status"] == "refused"
    assert "non-public address" in delivery["lastError"]
    assert receiver.requests == []


def test_a_trusted_host_may_be_plain_http_on_a_private_address() -> None:
    delivery = _deliver(
        Receiver(204), MemoryJobs(), Clock(), url="http://10.0.0.7/hook", trusted=frozenset({"10.0.0.7"})
    )
    assert delivery["status"] == "delivered"


def test_a_second_event_for_a_delivered_job_sends_nothing() -> None:
    jobs, receiver = MemoryJobs(), Receiver(204)
    _deliver(receiver, jobs, Clock())
    again = _deliver(receiver, jobs, Clock())
    assert (again["status"], len(receiver.requests)) == ("delivered", 1)


def test_a_notify_url_revoice_may_not_call_is_refused_before_the_job_starts() -> None:
    from revoice.pipeline.url_source import check_notify_url

    for url, words in [
        ("http://hooks.example.com/x", "only https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://metadata.internal/x", "non-public"),
    ]:
        with pytest.raises(JobInputError) as refused:
            check_notify_url(url, frozenset(), lambda host: ["169.254.169.254"])
        assert refused.value.code == "unsafe_url"
        assert words in refused.value.reason
        assert refused.value.reason.startswith("notify_url: ")
