"""After every other end-to-end test (successes, failures, timeouts, aborts, crashes, bursts): nothing is
still held. No generation slot, nobody in line for one, no voice held by a job that has ended, and no
job the table calls RUNNING whose execution has ended."""

from __future__ import annotations

from revoice.pipeline.voices import VoiceRegistry
from revoice_local.stack.stack import LocalStack


def test_the_whole_session_leaves_no_slot_hold_or_running_job_behind(stack: LocalStack) -> None:
    slots = stack.generation_slots()
    assert slots.holders() == set()
    assert slots.waiting() == []
    running = {str(item["jobId"]) for item in stack.job_table().scan()["Items"] if item.get("status") == "RUNNING"}
    ended = {job for job in running if stack._execution_status(job) not in (None, "RUNNING")}
    assert ended == set(), "the job table says RUNNING for jobs whose execution has ended"
    registry = VoiceRegistry(stack.dynamodb.Table(str(stack.plan.outputs["VoicesTableName"])))
    held_by_ended_jobs = {job for record in registry.all() for job in record.holders if job not in running}
    assert held_by_ended_jobs == set()
