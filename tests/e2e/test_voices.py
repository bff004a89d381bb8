"""The voice lifecycle through the local stack: reuse, slots held by running jobs, races, release, the sweep's
slot reclaim. (Which voice a job gets and what the sweep deletes: tests/unit/test_voice_rules.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from revoice.aws.tables import VoiceTable
from revoice_local.emulator.records import VoiceRecord
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

LINE = "A line for the voice tests."
OLD = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def registry(stack: LocalStack) -> Iterator[VoiceTable]:
    """A clean slate: no clones at the emulator, no rows in the registry."""
    table = stack.dynamodb.Table(str(stack.plan.outputs["VoicesTableName"]))
    voices = VoiceTable(table)

    def wipe() -> None:
        stack.emulator.emulator.voices.clear()
        for record in voices.all():
            voices.forget(record.voice_id)

    wipe()
    yield voices
    wipe()


def _clone_at_emulator(stack: LocalStack, name: str) -> str:
    emulator = stack.emulator.emulator
    voice_id = f"voice-{name}"
    emulator.voices[voice_id] = VoiceRecord(id=voice_id, name=name)
    return voice_id


def _idle_revoice_clone(stack: LocalStack, registry: VoiceTable, label: str, last_used: str = OLD) -> str:
    voice_id = _clone_at_emulator(stack, f"revoice-20260101T000000Z-{label}")
    registry.record(
        voice_id, f"revoice-20260101T000000Z-{label}", source_hash=f"hash-{label}", source_key="k", job_id=None
    )
    registry._table.update_item(
        Key={"voiceId": voice_id}, UpdateExpression="SET lastUsedAt = :t", ExpressionAttributeValues={":t": last_used}
    )
    return voice_id


def test_the_second_job_on_the_same_source_clones_nothing(stack: LocalStack, jobs: Jobs, registry: VoiceTable) -> None:
    first = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    renamed = jobs.put_video("speaker", key=f"media/{jobs.prefix}/same-audio-other-name.mp4")
    second = jobs.run({"source": renamed, "script": "Another line."})
    assert first.result is not None
    assert second.result is not None
    assert first.result["voice"]["cloned"] is True
    assert (second.result["voice"]["cloned"], second.result["voice"]["id"]) == (False, first.result["voice"]["id"])
    assert len(stack.emulator.emulator.voices) == 1
    [record] = registry.all()
    assert record.holders == frozenset()


def test_slots_held_by_running_jobs_make_a_job_wait_then_fail_clearly(
    stack: LocalStack, jobs: Jobs, registry: VoiceTable
) -> None:
    held = _idle_revoice_clone(stack, registry, "busy")
    registry.hold(held, "still-running-job")
    stack.job_table().put_item(Item={"jobId": "still-running-job", "status": "RUNNING"})
    stack.emulator.emulator.config.clone_slots = 1
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "fresh"}, timeout=60)
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("voice", "voice_clone_slots_busy")
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in stack.history(end.job_id) if e["type"].endswith("StateEntered")
    ]
    assert entered.count("Wait for a clone slot") == 5
    assert held in stack.emulator.emulator.voices


def test_two_jobs_racing_for_the_last_slot_both_complete_without_deleting_each_others_voice(
    stack: LocalStack, jobs: Jobs, registry: VoiceTable
) -> None:
    stack.emulator.emulator.config.clone_slots = 1
    stack.emulator.emulator.config.processing_seconds = 40
    ends: dict[str, Any] = {}

    def run(name: str) -> None:
        ends[name] = jobs.run({"source": jobs.put_video(name), "script": LINE, "voice": "fresh"}, timeout=90, name=name)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("speaker", "presenter")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = {name: (end.status, (end.error or {}).get("reason")) for name, end in ends.items()}
    assert {name: status for name, (status, _) in outcomes.items()} == {
        "speaker": "SUCCEEDED",
        "presenter": "SUCCEEDED",
    }, outcomes
    assert len(stack.emulator.emulator.voices) == 1


def test_an_ephemeral_clone_is_deleted_when_the_job_ends(stack: LocalStack, jobs: Jobs, registry: VoiceTable) -> None:
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "ephemeral"})
    assert end.result is not None
    assert end.result["voice"]["ephemeral"] is True
    assert stack.emulator.emulator.voices == {}
    assert registry.all() == []


def _cleanup(stack: LocalStack, dry_run: bool = False) -> dict[str, Any]:
    return stack.invoke("CleanupFunction", {"dryRun": dry_run})  # raises if the function failed


def test_cleanup_gives_back_generation_slots_whose_jobs_have_ended(stack: LocalStack) -> None:
    """A lost end-of-execution event must not shrink the plan for good: the sweep reclaims the slot."""
    slots = stack.generation_slots()
    table = stack.job_table()
    table.put_item(Item={"jobId": "job-ended-without-event", "status": "FAILED"})
    table.put_item(Item={"jobId": "job-still-generating", "status": "RUNNING"})
    assert slots.acquire("job-ended-without-event")
    assert slots.acquire("job-still-generating")
    try:
        preview = _cleanup(stack, dry_run=True)
        assert preview["staleGenerationSlots"] == ["job-ended-without-event"]
        assert {"job-ended-without-event", "job-still-generating"} <= slots.holders()
        report = _cleanup(stack)
        assert report["staleGenerationSlots"] == ["job-ended-without-event"]
        assert "job-ended-without-event" not in slots.holders()
        assert "job-still-generating" in slots.holders()
    finally:
        slots.release("job-still-generating")
