"""The voice rules through in-memory ports: which voice a job gets when the clone slots are full, which
clones the sweep deletes, and that a failing sync. labs loses no registry data. (The races between
real writers and the state machine's waits are in tests/e2e/test_voices.py.)"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from revoice.pipeline.cleanup import sweep
from revoice.pipeline.errors import SyncStepError
from revoice.pipeline.state import JobState
from revoice.pipeline.voice import ensure_voice
from tests.fake_sync import FakeSyncLabs
from tests.fakes import MemoryJobs, MemoryVoices

EVENTS = Path(__file__).resolve().parents[2] / "events"
OLD = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
TTL_SECONDS = 72 * 3600


def _job(**manifest: object) -> JobState:
    event = json.loads((EVENTS / "state-voice.json").read_text())
    event["manifest"].update(manifest)
    return JobState.model_validate(event)


def _idle_revoice_clone(sync: FakeSyncLabs, registry: MemoryVoices, label: str, last_used: str = OLD) -> str:
    name = f"revoice-20260101T000000Z-{label}"
    voice_id = sync.add_clone(name)
    registry.record(voice_id, name, source_hash=f"hash-{label}", source_key="k", job_id=None)
    registry.records[voice_id] = replace(registry.records[voice_id], last_used_at=last_used)
    return voice_id


def test_full_slots_of_idle_revoice_clones_free_the_least_recently_used() -> None:
    sync, registry = FakeSyncLabs(clone_slots=2), MemoryVoices()
    oldest = _idle_revoice_clone(sync, registry, "oldest", last_used="2026-01-01T00:00:00.000Z")
    newer = _idle_revoice_clone(sync, registry, "newer", last_used="2026-02-01T00:00:00.000Z")
    state = ensure_voice(_job(voice="fresh"), sync=sync, registry=registry, jobs=MemoryJobs())
    assert state.voice is not None
    assert state.voice.cloned
    assert set(sync.voices) == {newer, state.voice.id}
    assert registry.get(oldest) is None


def test_a_revoice_clone_another_job_is_freeing_makes_the_job_wait_not_fail() -> None:
    sync, registry = FakeSyncLabs(clone_slots=1), MemoryVoices()
    being_freed = _idle_revoice_clone(sync, registry, "being-freed", last_used="2026-01-01T00:00:00.000Z")
    assert registry.claim_for_deletion(being_freed)  # another job's step, between its claim and its delete
    state = ensure_voice(_job(voice="fresh"), sync=sync, registry=registry, jobs=MemoryJobs())
    assert state.voice is None  # not voice_clone_limit_reached: the slot is about to be free
    assert state.voice_waits == 1
    assert state.voice_wait_seconds is not None
    assert set(sync.voices) == {being_freed}


def test_slots_full_of_foreign_voices_fail_the_job_clearly_and_delete_nothing() -> None:
    sync = FakeSyncLabs(clone_slots=2)
    foreign = {sync.add_clone("Marketing narrator"), sync.add_clone("CEO keynote")}
    with pytest.raises(SyncStepError) as refused:
        ensure_voice(_job(voice="fresh"), sync=sync, registry=MemoryVoices(), jobs=MemoryJobs())
    assert refused.value.code == "voice_clone_limit_reached"
    assert "revoice did not make" in refused.value.reason
    assert set(sync.voices) == foreign


def test_a_named_voice_is_used_as_is_and_an_unknown_one_fails_clearly() -> None:
    sync = FakeSyncLabs()
    state = ensure_voice(_job(voice_id="builtin-rachel"), sync=sync, registry=MemoryVoices(), jobs=MemoryJobs())
    assert state.voice is not None
    assert (state.voice.id, state.voice.cloned, state.voice.held) == ("builtin-rachel", False, False)
    assert sync.voices == {}
    with pytest.raises(SyncStepError) as unknown:
        ensure_voice(_job(voice_id="no-such-voice"), sync=sync, registry=MemoryVoices(), jobs=MemoryJobs())
    assert unknown.value.code == "voice_not_found"


def _sweep_scene(sync: FakeSyncLabs, registry: MemoryVoices, jobs: MemoryJobs) -> dict[str, str]:
    recent = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scene = {
        "stale": _idle_revoice_clone(sync, registry, "stale"),
        "fresh": _idle_revoice_clone(sync, registry, "fresh", last_used=datetime.now(UTC).isoformat()),
        "in_use": _idle_revoice_clone(sync, registry, "in-use"),
        "foreign": sync.add_clone("Sales team voice"),
        "unrecorded_old": sync.add_clone("revoice-20200101T000000Z-crashed-job"),
        "unrecorded_new": sync.add_clone(f"revoice-{recent}-just-made"),
        "gone": "voice-gone",
    }
    registry.hold(scene["in_use"], "job-in-progress")
    jobs.accepted("job-in-progress", "inbox/x.json", "media/x.mp4", "arn:execution")
    registry.record("voice-gone", "revoice-20260101T000000Z-gone", source_hash="h", source_key="k", job_id=None)
    return scene


def _sweep(sync: FakeSyncLabs, registry: MemoryVoices, jobs: MemoryJobs, dry_run: bool = False) -> dict[str, set[str]]:
    report = sweep(
        sync=sync, registry=registry, job_is_running=jobs.is_running, ttl_seconds=TTL_SECONDS, dry_run=dry_run
    ).document()
    return {
        **{kind: {e["voiceId"] for e in report[kind]} for kind in ("deleted", "forgotten", "adopted", "failed")},
        "dry": {e["voiceId"] for e in report["deleted"] if e.get("dryRun")},
        "not_ours": {str(report["counts"]["notOurs"])},
    }


def test_cleanup_deletes_exactly_the_stale_revoice_clones() -> None:
    sync, registry, jobs = FakeSyncLabs(), MemoryVoices(), MemoryJobs()
    scene = _sweep_scene(sync, registry, jobs)
    report = _sweep(sync, registry, jobs)
    assert report["deleted"] == {scene["stale"], scene["unrecorded_old"]}
    assert scene["stale"] not in sync.voices
    assert scene["unrecorded_old"] not in sync.voices
    for survivor in ("fresh", "in_use", "foreign", "unrecorded_new"):
        assert scene[survivor] in sync.voices
    assert "builtin-rachel" in sync.built_in
    assert report["forgotten"] == {"voice-gone"}
    assert report["adopted"] == {scene["unrecorded_new"]}
    assert registry.get(scene["unrecorded_new"]) is not None
    assert int(report["not_ours"].pop()) == 2  # the foreign clone and the built-in voice


def test_a_dry_run_deletes_and_changes_nothing() -> None:
    sync, registry, jobs = FakeSyncLabs(), MemoryVoices(), MemoryJobs()
    scene = _sweep_scene(sync, registry, jobs)
    rows_before, voices_before = dict(registry.records), set(sync.voices)
    report = _sweep(sync, registry, jobs, dry_run=True)
    assert report["deleted"] == report["dry"] == {scene["stale"], scene["unrecorded_old"]}
    assert set(sync.voices) == voices_before
    assert registry.records == rows_before


def test_cleanup_with_sync_failing_part_way_loses_no_registry_data() -> None:
    sync, registry, jobs = FakeSyncLabs(fail_deletes=True), MemoryVoices(), MemoryJobs()
    scene = _sweep_scene(sync, registry, jobs)
    report = _sweep(sync, registry, jobs)
    assert report["failed"] == {scene["stale"], scene["unrecorded_old"]}
    assert report["deleted"] == set()
    stale = registry.get(scene["stale"])
    assert stale is not None
    assert stale.state == "active"
    sync.fail_deletes = False
    assert _sweep(sync, registry, jobs)["deleted"] == {scene["stale"], scene["unrecorded_old"]}
