"""The voice lifecycle through the local stack: reuse, full clone slots, races, release, cleanup."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from revoice.pipeline.voices import VoiceRegistry
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.records import VoiceRecord
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs

LINE = "A line for the voice tests."
OLD = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def registry(stack: LocalStack) -> Iterator[VoiceRegistry]:
    """A clean slate: no clones at the emulator, no rows in the registry."""
    table = stack.dynamodb.Table(str(stack.plan.outputs["VoicesTableName"]))
    voices = VoiceRegistry(table)

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


def _idle_revoice_clone(stack: LocalStack, registry: VoiceRegistry, label: str, last_used: str = OLD) -> str:
    voice_id = _clone_at_emulator(stack, f"revoice-20260101T000000Z-{label}")
    registry.record(
        voice_id, f"revoice-20260101T000000Z-{label}", source_hash=f"hash-{label}", source_key="k", job_id=None
    )
    registry._table.update_item(
        Key={"voiceId": voice_id}, UpdateExpression="SET lastUsedAt = :t", ExpressionAttributeValues={":t": last_used}
    )
    return voice_id


def test_the_second_job_on_the_same_source_clones_nothing(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
) -> None:
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


def test_full_slots_of_idle_revoice_clones_free_the_least_recently_used(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
) -> None:
    oldest = _idle_revoice_clone(stack, registry, "oldest", last_used="2026-01-01T00:00:00.000Z")
    newer = _idle_revoice_clone(stack, registry, "newer", last_used="2026-02-01T00:00:00.000Z")
    stack.emulator.emulator.config.clone_slots = 2
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "fresh"})
    assert end.result is not None
    voices = stack.emulator.emulator.voices
    assert oldest not in voices
    assert newer in voices
    assert end.result["voice"]["id"] in voices
    assert registry.get(oldest) is None


def test_slots_full_of_foreign_voices_fail_the_job_clearly_and_delete_nothing(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
) -> None:
    foreign = {_clone_at_emulator(stack, "Marketing narrator"), _clone_at_emulator(stack, "CEO keynote")}
    stack.emulator.emulator.config.clone_slots = 2
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "fresh"})
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("voice", "voice_clone_limit_reached")
    assert "revoice did not make" in end.error["reason"]
    assert set(stack.emulator.emulator.voices) == foreign


def test_slots_held_by_running_jobs_make_a_job_wait_then_fail_clearly(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
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
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
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


def test_an_ephemeral_clone_is_deleted_when_the_job_ends(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
) -> None:
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "ephemeral"})
    assert end.result is not None
    assert end.result["voice"]["ephemeral"] is True
    assert stack.emulator.emulator.voices == {}
    assert registry.all() == []


def test_a_named_voice_is_used_as_is_and_an_unknown_one_fails_clearly(
    stack: LocalStack, jobs: Jobs, registry: VoiceRegistry
) -> None:
    built_in = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice_id": "builtin-rachel"})
    assert built_in.result is not None
    assert (built_in.result["voice"]["id"], built_in.result["voice"]["cloned"]) == ("builtin-rachel", False)
    assert stack.emulator.emulator.voices == {}
    unknown = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice_id": "no-such-voice"})
    assert unknown.error is not None
    assert (unknown.error["step"], unknown.error["errorCode"]) == ("voice", "voice_not_found")


def _cleanup(stack: LocalStack, dry_run: bool = False) -> dict[str, Any]:
    return stack.invoke("CleanupFunction", {"dryRun": dry_run})  # raises if the function failed


def _sweep_scene(stack: LocalStack, registry: VoiceRegistry) -> dict[str, str]:
    recent = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scene = {
        "stale": _idle_revoice_clone(stack, registry, "stale"),
        "fresh": _idle_revoice_clone(stack, registry, "fresh", last_used=datetime.now(UTC).isoformat()),
        "in_use": _idle_revoice_clone(stack, registry, "in-use"),
        "foreign": _clone_at_emulator(stack, "Sales team voice"),
        "unrecorded_old": _clone_at_emulator(stack, "revoice-20200101T000000Z-crashed-job"),
        "unrecorded_new": _clone_at_emulator(stack, f"revoice-{recent}-just-made"),
        "gone": "voice-gone",
    }
    registry.hold(scene["in_use"], "job-in-progress")
    stack.job_table().put_item(Item={"jobId": "job-in-progress", "status": "RUNNING"})
    registry.record("voice-gone", "revoice-20260101T000000Z-gone", source_hash="h", source_key="k", job_id=None)
    return scene


def test_cleanup_deletes_exactly_the_stale_revoice_clones(stack: LocalStack, registry: VoiceRegistry) -> None:
    scene = _sweep_scene(stack, registry)
    report = _cleanup(stack)
    voices = stack.emulator.emulator.voices
    assert {e["voiceId"] for e in report["deleted"]} == {scene["stale"], scene["unrecorded_old"]}
    assert scene["stale"] not in voices
    assert scene["unrecorded_old"] not in voices
    for survivor in ("fresh", "in_use", "foreign", "unrecorded_new"):
        assert scene[survivor] in voices
    assert any(v.id == "builtin-rachel" for v in stack.emulator.emulator.listed_voices())
    assert {e["voiceId"] for e in report["forgotten"]} == {"voice-gone"}
    assert {e["voiceId"] for e in report["adopted"]} == {scene["unrecorded_new"]}
    assert registry.get(scene["unrecorded_new"]) is not None
    assert report["counts"]["notOurs"] >= 4
    assert stack.read_json(report["report"]) is not None


def test_a_dry_run_deletes_and_changes_nothing(stack: LocalStack, registry: VoiceRegistry) -> None:
    scene = _sweep_scene(stack, registry)
    rows_before = sorted(r.voice_id for r in registry.all())
    voices_before = set(stack.emulator.emulator.voices)
    report = _cleanup(stack, dry_run=True)
    assert {e["voiceId"] for e in report["deleted"]} == {scene["stale"], scene["unrecorded_old"]}
    assert all(e["dryRun"] for e in report["deleted"])
    assert set(stack.emulator.emulator.voices) == voices_before
    assert sorted(r.voice_id for r in registry.all()) == rows_before
    assert report["report"].endswith("-dry-run.json")


def test_cleanup_with_sync_failing_part_way_loses_no_registry_data(stack: LocalStack, registry: VoiceRegistry) -> None:
    scene = _sweep_scene(stack, registry)
    stack.emulator.emulator.faults.replace(
        [FaultRule(target="DELETE /v2/voices/*", kind="server_error", status=500, times=None)]
    )
    report = _cleanup(stack)
    assert {e["voiceId"] for e in report["failed"]} == {scene["stale"], scene["unrecorded_old"]}
    assert report["deleted"] == []
    stale = registry.get(scene["stale"])
    assert stale is not None
    assert stale.state == "active"
    stack.emulator.emulator.faults.replace([])
    assert {e["voiceId"] for e in _cleanup(stack)["deleted"]} == {scene["stale"], scene["unrecorded_old"]}


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
