"""A burst of jobs stays within the plan: never more generations in flight than it allows, every job
finishes, and every generation slot is given back."""

from __future__ import annotations

import threading
import time

from revoice.pipeline.contract import WOKEN_TO_ASK
from revoice_local.emulator.config import FaultRule
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

BURST = 30
TASK_ENDS = ("TaskSucceeded", "TaskTimedOut", "TaskFailed")


def test_thirty_jobs_at_once_never_run_more_generations_than_the_plan_allows(stack: LocalStack, jobs: Jobs) -> None:
    emulator = stack.emulator.emulator
    plan_limit = emulator.config.limits.concurrency
    assert plan_limit == 3
    emulator.max_in_flight = 0
    refused_before = emulator.errors_answered["concurrency_limit_reached"]
    most_slots_held = 0
    done = threading.Event()

    def watch_slots() -> None:
        nonlocal most_slots_held
        while not done.is_set():
            most_slots_held = max(most_slots_held, len(stack.generation_slots().holders()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_slots, daemon=True)
    watcher.start()
    source, target = jobs.put_video("speaker"), jobs.put_video("presenter")
    keys = [
        jobs.drop_manifest({"source": source, "target": target, "script": f"Line {n} of the burst."}, name=f"b{n}")
        for n in range(BURST)
    ]
    ends = [stack.wait_for_job(jobs.job_id(key), timeout=240) for key in keys]
    done.set()
    watcher.join()

    assert [end.status for end in ends] == ["SUCCEEDED"] * BURST
    assert all(end.result is not None for end in ends)
    assert emulator.max_in_flight == plan_limit  # the plan was used to the full, and never past it
    assert 0 < most_slots_held <= plan_limit
    assert emulator.errors_answered["concurrency_limit_reached"] == refused_before  # none: nobody was refused
    assert stack.generation_slots().holders() == set()
    waits = [wait for end in ends for wait in _waits_in_line(stack, end.job_id)]
    assert len(waits) >= plan_limit  # more jobs came than the plan had slots: some waited in line
    assert set(waits) <= {"woken with its generation", "woken to ask"}, "a wait in line ended by its timeout"
    assert "woken with its generation" in waits  # a hand-over started the generation of the job it woke


def _waits_in_line(stack: LocalStack, job_id: str) -> list[str]:
    """How each of the job's waits in line for a generation slot ended: woken with its generation, woken to
    ask for it, or the task's failure."""
    current, ended = "", []
    for event in stack.history(job_id):
        if "stateEnteredEventDetails" in event:
            current = str(event["stateEnteredEventDetails"]["name"])
        elif current == "Wait for a generation slot" and event["type"] in TASK_ENDS:
            failure = event.get("taskFailedEventDetails", {}).get("error")
            ended.append(
                "woken with its generation"
                if event["type"] == "TaskSucceeded"
                else "woken to ask"
                if failure == WOKEN_TO_ASK
                else event["type"]
            )
    return ended


def test_a_job_whose_head_start_sync_labs_refuses_is_woken_to_start_its_generation_itself(
    stack: LocalStack, jobs: Jobs
) -> None:
    emulator = stack.emulator.emulator
    plan_limit = emulator.config.limits.concurrency
    emulator.config.processing_seconds = 40  # 2 s at the stack's time scale: the later jobs find every slot held
    source, target = jobs.put_video("speaker"), jobs.put_video("presenter")
    keys = [
        jobs.drop_manifest({"source": source, "target": target, "script": f"Line {n}, refused."}, name=f"r{n}")
        for n in range(2 * plan_limit)
    ]
    slots, deadline = stack.generation_slots(), time.monotonic() + 60
    while not (len(slots.holders()) == plan_limit and slots.waiting()):  # every slot held, a job in line
        assert time.monotonic() < deadline, "no job ever waited in line"
        time.sleep(0.05)
    injected = len(emulator.faults.injected)
    # With every slot held, the next generation start is a hand-over's, for the job it wakes.
    emulator.faults.add([FaultRule(target="POST /v2/generate", kind="server_error", status=503, times=1)])
    ends = [stack.wait_for_job(jobs.job_id(key), timeout=240) for key in keys]

    assert [end.status for end in ends] == ["SUCCEEDED"] * len(keys)
    assert len(emulator.faults.injected) == injected + 1
    waits = [wait for end in ends for wait in _waits_in_line(stack, end.job_id)]
    assert "woken to ask" in waits  # sent revoice.WokenToAsk, it asked for its slot and generation itself
    assert set(waits) <= {"woken with its generation", "woken to ask"}
    assert slots.holders() == set()
