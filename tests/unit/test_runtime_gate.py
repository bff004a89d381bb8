"""The local runtime's per-function gate: a bounded number of calls inside, the oldest job's next."""

from __future__ import annotations

import threading
import time

from revoice_local.stack.runtime import _Gate, _priority


def test_waiting_calls_go_in_by_their_jobs_arrival_not_their_own() -> None:
    gate = _Gate(capacity=1)
    gate.enter("2026-01-01T00:00:09Z")  # a call already inside
    went_in: list[str] = []
    queued = threading.Semaphore(0)

    def call(received_at: str) -> None:
        queued.release()
        gate.enter(received_at)
        went_in.append(received_at)
        gate.leave()

    callers = []
    for received_at in ("2026-01-01T00:00:03Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"):
        callers.append(threading.Thread(target=call, args=(received_at,)))
        callers[-1].start()
        assert queued.acquire(timeout=5)
    deadline = time.monotonic() + 5
    while len(gate._waiting) < 3:  # every caller is in line (a positive signal, not a pause)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.leave()
    for caller in callers:
        caller.join(timeout=5)
    assert went_in == ["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"]


def test_a_call_for_a_job_is_ranked_by_when_the_job_arrived() -> None:
    state = {"job": {"receivedAt": "2026-01-01T00:00:01Z"}}
    assert _priority(state) == "2026-01-01T00:00:01Z"
    assert _priority({"state": state, "taskToken": "t"}) == "2026-01-01T00:00:01Z"
    assert _priority({"Records": []}) > "2026-01-01T00:00:01Z"  # not a job's step: ranked as arriving now
