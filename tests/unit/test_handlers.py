"""Every step's handler, fed its sample event from events/, through in-memory ports with the network off: what
each one reads, writes and answers, in milliseconds instead of a stack's seconds (the HTTP-facing ones:
test_http_handlers.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from revoice.handlers.events import S3Event
from revoice.pipeline.contract import LipsyncOperation
from revoice.pipeline.layout import output_key, result_key
from revoice.pipeline.state import JobState
from tests.conftest import Samples
from tests.fakes import World
from tests.unit.conftest import EVENTS, SOURCE, Context, event, handler, invoke


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("state-*.json")))
def test_every_state_sample_is_a_valid_job_state(name: str) -> None:
    assert JobState.model_validate(event(name)).job.id


@pytest.mark.parametrize("name", ["s3-manifest-put.json", "s3-video-put.json"])
def test_every_s3_sample_parses(name: str) -> None:
    assert S3Event.model_validate(event(name)).Records[0].version


@pytest.mark.parametrize("name", ["lipsync-start.json", "lipsync-poll.json", "slot-wait.json", "callback-wait.json"])
def test_every_lipsync_sample_names_its_operation_and_carries_a_job_state(name: str) -> None:
    sample = event(name)
    operation = LipsyncOperation(sample["operation"])
    assert JobState.model_validate(sample["state"]).job.id
    assert ("taskToken" in sample) is (operation is not LipsyncOperation.GENERATE)


def test_the_manifest_sample_starts_one_execution_named_by_the_job(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("s3-manifest-put.json")
    key = "inbox/product launch.json"
    world.bucket.put(key, json.dumps({"source": SOURCE, "script": "Launch day!"}).encode(), "application/json")
    [outcome] = invoke("IngestFunction", sample, world, monkeypatch)["jobs"]
    assert outcome["status"] == "started"
    [(name, payload)] = world.executions.started.items()
    assert name == outcome["job_id"]
    assert name.startswith("product-launch-")
    assert payload["manifest"]["script"] == "Launch day!"
    assert world.jobs.records[name]["status"] == "RUNNING"
    [again] = invoke("IngestFunction", sample, world, monkeypatch)["jobs"]  # S3 delivers events at least once
    assert (again["status"], len(world.executions.started)) == ("duplicate", 1)


def test_the_video_sample_with_its_script_in_metadata_starts_a_job(
    world: World, monkeypatch: pytest.MonkeyPatch, samples: Samples
) -> None:
    sample = event("s3-video-put.json")
    key = sample["Records"][0]["s3"]["object"]["key"]
    from revoice.pipeline.layout import decode_event_key

    world.bucket.put(decode_event_key(key), samples.video.read_bytes(), script="A line from metadata.")
    [outcome] = invoke("IngestFunction", sample, world, monkeypatch)["jobs"]
    assert outcome["status"] == "started", outcome
    assert world.executions.started[outcome["job_id"]]["manifest"]["script"] == "A line from metadata."


def test_a_broken_manifest_is_refused_into_failed_with_its_reason_and_starts_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.bucket.put("inbox/product launch.json", b"{not json", "application/json")
    [outcome] = invoke("IngestFunction", event("s3-manifest-put.json"), world, monkeypatch)["jobs"]
    assert outcome["status"] == "rejected"
    document = world.bucket.read_json(f"failed/{outcome['job_id']}/error.json")
    assert document["errorCode"] == "invalid_manifest"
    assert world.executions.started == {}
    assert world.bucket.objects["inbox/product launch.json"] == b"{not json"  # nothing stored is lost
    [ended] = world.events.published
    assert (ended.detail_type, ended.job_id, ended.error_code) == (
        "Job Rejected",
        outcome["job_id"],
        "invalid_manifest",
    )


def test_the_fetch_sample_copies_its_https_source_into_the_bucket(
    world: World, monkeypatch: pytest.MonkeyPatch, samples: Samples
) -> None:
    import httpx

    from revoice.pipeline import url_source

    body = samples.video.read_bytes()
    monkeypatch.setattr(url_source, "resolve", lambda host: ["93.184.216.34"])
    module = handler("FetchFunction", world, monkeypatch)
    served = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "video/mp4"})
    )
    monkeypatch.setattr(module, "_http", lambda: httpx.Client(transport=served))
    state = JobState.model_validate(module.handler(event("state-fetch.json"), Context()))
    assert state.manifest.source.startswith("downloads/from-cms-")
    assert world.bucket.objects[state.manifest.source] == body
    assert world.jobs.steps["from-cms-2f0b9a1c5d3e4f60"] == ["fetch"]


def test_the_push_sample_streams_the_video_to_sync_labs_once_and_hashes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = JobState.model_validate(invoke("PushFunction", event("state-push.json"), world, monkeypatch))
    assert state.assets is not None
    assert state.assets.source.asset_id == state.assets.target.asset_id  # one video, pushed once
    assert list(world.sync.assets.values()) == [world.bucket.objects[SOURCE]]
    assert state.assets.source.sha256 == hashlib.sha256(world.bucket.objects[SOURCE]).hexdigest()


def test_the_voice_sample_clones_a_voice_and_records_the_job_holding_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = JobState.model_validate(invoke("VoiceFunction", event("state-voice.json"), world, monkeypatch))
    assert state.voice is not None
    assert state.voice.cloned
    assert state.voice.held
    record = world.voices.get(state.voice.id)
    assert record is not None
    assert record.holders == {state.job.id}
    assert world.jobs.records[state.job.id]["voiceId"] == state.voice.id
    again = JobState.model_validate(invoke("VoiceFunction", event("state-voice.json"), world, monkeypatch))
    assert again.voice is not None
    assert (again.voice.id, again.voice.cloned) == (state.voice.id, False)
    assert len(world.sync.voices) == 1


def test_the_speech_samples_start_tts_and_check_on_it_until_it_is_done(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("state-speech-start.json")
    sample["config"]["ttsPollSeconds"] = 0  # no checks inside the starting step (test_speech_step has those)
    started = invoke("SpeechFunction", sample, world, monkeypatch)
    state = JobState.model_validate(started)
    assert state.tts is not None
    assert not state.tts.done
    done = JobState.model_validate(invoke("SpeechFunction", started, world, monkeypatch))
    assert done.tts is not None
    assert done.tts.done
    assert done.tts.url
    polled = JobState.model_validate(invoke("SpeechFunction", event("state-speech-poll.json"), world, monkeypatch))
    assert polled.tts is not None
    assert polled.tts.polls == 1


def test_the_lipsync_samples_start_a_generation_in_a_slot_and_check_on_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("lipsync-start.json")
    answer = JobState.model_validate(invoke("LipsyncFunction", sample, world, monkeypatch))
    assert answer.generation is not None
    assert not answer.generation.done
    assert world.lease.holders() == {answer.job.id}
    request = world.sync.requests[answer.generation.id]
    assert request.model == sample["state"]["config"]["model"]
    poll = {"operation": LipsyncOperation.GENERATE, "state": answer.wire()}
    finished = JobState.model_validate(invoke("LipsyncFunction", poll, world, monkeypatch))
    assert finished.generation is not None
    assert finished.generation.succeeded
    assert world.lease.holders() == set()  # an ended generation gives its slot back at once


def test_a_job_finding_every_slot_taken_waits_and_joins_the_line_and_is_woken_by_the_next_end(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(world.lease.limit):
        world.lease.acquire(f"busy-{n}")
    sample = event("lipsync-start.json")
    waiting = JobState.model_validate(invoke("LipsyncFunction", sample, world, monkeypatch))
    assert waiting.generation is None
    assert not waiting.waiting_for_sync
    assert waiting.waiting_for == "slot"
    join = {"operation": LipsyncOperation.JOIN_THE_LINE, "state": waiting.wire(), "taskToken": "token-1"}
    world.tokens.open.add("token-1")
    assert invoke("LipsyncFunction", join, world, monkeypatch) == {"outcome": "in line"}
    assert world.slots.hand_over("busy-0", world.tokens.wake) == waiting.job.id
    assert world.tokens.outputs == {"token-1": None}  # no generation started for it: it asks for its own
    assert waiting.job.id in world.lease.holders()


def test_a_job_handed_a_slot_while_its_wait_had_timed_out_goes_on_when_it_joins_the_line_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(world.lease.limit):
        world.lease.acquire(f"busy-{n}")
    waiting = JobState.model_validate(invoke("LipsyncFunction", event("lipsync-start.json"), world, monkeypatch))
    world.tokens.open.add("token-1")
    join = {"operation": LipsyncOperation.JOIN_THE_LINE, "state": waiting.wire(), "taskToken": "token-1"}
    assert invoke("LipsyncFunction", join, world, monkeypatch) == {"outcome": "in line"}
    world.tokens.open.discard("token-1")  # its wait timed out; it asked again, and every slot was still taken
    assert world.slots.hand_over("busy-0", world.tokens.wake, lambda start: {"id": "started-for-it"}) == (
        waiting.job.id
    )
    world.tokens.open.add("token-2")
    again = {**join, "taskToken": "token-2"}
    assert invoke("LipsyncFunction", again, world, monkeypatch) == {"outcome": "holds a slot already"}
    assert world.tokens.outputs == {"token-2": None}  # woken at once, to ask: it finds its slot and generation
    assert world.slots.waiting() == []
    assert world.lease.holders() == {waiting.job.id, *(f"busy-{n}" for n in range(1, world.lease.limit))}


def test_the_slot_wait_sample_with_a_free_slot_is_served_at_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = event("slot-wait.json")
    world.tokens.open.add(sample["taskToken"])
    assert invoke("LipsyncFunction", sample, world, monkeypatch) == {"outcome": "woken at once"}
    assert world.slots.waiting() == []


def _store_sample(world: World) -> tuple[dict[str, Any], JobState]:
    """The store step's sample event, its generation's output (and speech) there to download."""
    sample = event("state-store.json")
    state = JobState.model_validate(sample)
    assert state.generation is not None
    assert state.generation.output_url
    world.sync.downloads[state.generation.output_url] = b"the lip-synced video"
    if state.tts is not None and state.tts.url:
        world.sync.downloads[state.tts.url] = b"the speech"
    return sample, state


def test_the_store_sample_copies_the_results_gives_the_slot_back_and_lets_the_voice_go(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample, state = _store_sample(world)
    assert state.voice is not None
    world.lease.acquire(state.job.id)
    world.voices.record(state.voice.id, "revoice-x", source_hash="h", source_key=SOURCE, job_id=state.job.id)
    result = invoke("StoreFunction", sample, world, monkeypatch)
    assert world.bucket.objects[result["outputs"]["video"]] == b"the lip-synced video"
    assert world.bucket.read_json(f"results/{state.job.id}/result.json")["jobId"] == state.job.id
    assert world.lease.holders() == set()
    record = world.voices.get(state.voice.id)
    assert record is not None
    assert record.holders == frozenset()
    assert world.jobs.records[state.job.id]["status"] == "SUCCEEDED"
    [ended] = world.events.published
    assert (ended.detail_type, ended.job_id, ended.status) == ("Job Succeeded", state.job.id, "SUCCEEDED")
    assert ended.outputs is not None
    assert (ended.outputs.video, ended.outputs.result) == (result["outputs"]["video"], result_key(state.job.id))


def test_a_job_is_marked_succeeded_only_once_its_result_json_is_there(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /jobs reads the outputs from result.json when the record says SUCCEEDED (seen answering none)."""
    sample, state = _store_sample(world)
    seen_when_marked: list[object] = []
    marked = world.jobs.succeeded

    def succeeded(job_id: str, key: str) -> None:
        seen_when_marked.append(world.bucket.read_json(key))
        marked(job_id, key)

    monkeypatch.setattr(world.jobs, "succeeded", succeeded)
    invoke("StoreFunction", sample, world, monkeypatch)
    [document] = seen_when_marked
    assert isinstance(document, dict)
    assert document["outputs"]["video"] == output_key(state.job.id)


def test_the_failure_sample_records_the_step_and_the_generation_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = event("state-failure.json")
    document = invoke("FailureFunction", sample, world, monkeypatch)
    assert document == world.bucket.read_json(f"failed/{sample['job']['id']}/error.json")
    assert (document["step"], document["errorCode"]) == ("lipsync", "lipsync_face_not_found")
    assert document["reason"]
    assert world.jobs.records[sample["job"]["id"]]["status"] == "FAILED"
    [ended] = world.events.published
    assert (ended.detail_type, ended.step, ended.error_code) == ("Job Failed", "lipsync", "lipsync_face_not_found")


def test_the_aborted_execution_sample_is_recorded_as_aborted(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = event("execution-aborted.json")
    document = invoke("FailureFunction", sample, world, monkeypatch)
    assert (document["errorCode"], document["jobId"]) == ("execution_aborted", sample["detail"]["name"])
    assert world.bucket.read_json(f"failed/{sample['detail']['name']}/error.json") == document
    [ended] = world.events.published
    assert (ended.detail_type, ended.error_code) == ("Job Failed", "execution_aborted")


def test_the_cleanup_dry_run_reports_what_it_would_delete_and_deletes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = "2020-01-01T00:00:00Z"
    voice = world.sync.clone_voice("revoice-20200101T000000Z-old-job")
    world.voices.record(str(voice.id), str(voice.name), source_hash="h", source_key=SOURCE, job_id=None, created_at=old)
    record = world.voices.records[str(voice.id)]
    world.voices.records[str(voice.id)] = type(record)(**{**record.__dict__, "last_used_at": old})
    report = invoke("CleanupFunction", {"dryRun": True}, world, monkeypatch)
    assert report["report"].endswith("-dry-run.json")
    assert world.bucket.read_json(report["report"])["dry_run"] is True
    assert [entry["voiceId"] for entry in report["deleted"]] == [voice.id]
    assert str(voice.id) in world.sync.voices
    assert str(voice.id) in world.voices.records
    report = invoke("CleanupFunction", {}, world, monkeypatch)
    assert str(voice.id) not in world.sync.voices
    assert str(voice.id) not in world.voices.records
    assert any(key.startswith("reports/cleanup/") for key in world.bucket.objects)
