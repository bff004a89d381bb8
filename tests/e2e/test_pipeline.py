"""The product, end to end: files dropped in the local bucket come back re-voiced and lip-synced.

Real ASL (moto's interpreter), real handlers, real HTTP to the emulator, real media out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revoice_local import media
from revoice_local.emulator.config import FaultRule
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import OUTLASTS_THE_JOB, IngestEvents, JobEvents, Jobs

LINE = "A brand new line, spoken in the speaker's own voice."


SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "job-event.schema.json").read_text())


def _the_end_event(job_events: JobEvents, job_id: str, detail_type: str) -> dict[str, Any]:
    """The one event of the job's end, as published: its type, its documented schema, no signed URL."""
    import jsonschema

    [event] = job_events.of(job_id)
    assert (event["source"], event["detail-type"]) == ("revoice", detail_type)
    jsonschema.validate(event["detail"], SCHEMA)
    assert "?" not in json.dumps(event["detail"])  # no query string: no signature
    return dict(event["detail"])


def _download(stack: LocalStack, key: str, tmp_path: Path) -> Path:
    target = tmp_path / key.rsplit("/", 1)[-1]
    stack.s3.download_file(stack.bucket, key, str(target))
    return target


def test_a_manifest_job_ends_with_a_playable_video_speech_and_a_result(
    stack: LocalStack, jobs: Jobs, tmp_path: Path, job_events: JobEvents
) -> None:
    source, target = jobs.put_video("speaker"), jobs.put_video("presenter")
    end = jobs.run({"source": source, "target": target, "script": LINE, "sync_mode": "loop", "output_name": "my_clip"})
    assert end.status == "SUCCEEDED"
    assert end.error is None
    result = end.result
    assert result is not None
    job = result["jobId"]
    assert jobs.keys(f"results/{job}/") == [
        f"results/{job}/output.mp4",
        f"results/{job}/result.json",
        f"results/{job}/speech.wav",
    ]
    detail = _the_end_event(job_events, job, "Job Succeeded")
    assert (detail["outputs"]["video"], detail["outputs"]["result"]) == (
        result["outputs"]["video"],
        f"results/{job}/result.json",
    )
    assert detail["timings"] == result["timings"]
    video = media.probe(_download(stack, result["outputs"]["video"], tmp_path), ".mp4")
    speech = media.probe(_download(stack, result["outputs"]["speech"], tmp_path), ".wav")
    assert video is not None
    assert speech is not None
    assert (video.has_video, video.has_audio) == (True, True)
    assert abs(video.duration - speech.duration) < 0.3
    assert result["inputs"] == {
        "source": source,
        "target": target,
        "scriptCharacters": len(LINE),
        "speech": "tts",
        "model": "lipsync-2",
        "syncMode": "loop",
    }
    assert result["voice"]["name"].startswith("revoice-")
    assert result["generation"]["status"] == "COMPLETED"
    assert "?" not in result["generation"]["outputUrl"]
    assert set(result["timings"]) == {"push", "voice", "speech", "lipsync", "store", "total"}
    assert stack.job(job)["status"] == "SUCCEEDED"  # type: ignore[index]
    assert jobs.keys(f"failed/{job}/") == []


def test_a_video_with_its_script_in_metadata_is_a_job_too(stack: LocalStack, jobs: Jobs) -> None:
    key = jobs.put_video(
        "speaker",
        key=f"inbox/{jobs.prefix} Team update+final.MP4",
        script=LINE,
        model="lipsync-2-pro",
        **{"sync-mode": "cut_off"},
    )
    end = stack.wait_for_job(jobs.job_id(key), timeout=90)
    assert end.status == "SUCCEEDED"
    assert end.result is not None
    assert (end.result["inputs"]["source"], end.result["inputs"]["model"], end.result["inputs"]["syncMode"]) == (
        key,
        "lipsync-2-pro",
        "cut_off",
    )


def test_text_input_goes_straight_into_generate(stack: LocalStack, jobs: Jobs) -> None:
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "speech": "text"})
    assert end.result is not None
    assert end.result["tts"] is None
    assert end.result["outputs"]["speech"].endswith("speech.wav")
    assert "speech" not in end.result["timings"]


def test_the_same_s3_event_three_times_makes_one_execution_one_clone_one_generation(
    stack: LocalStack, jobs: Jobs, ingest_events: IngestEvents
) -> None:
    emulator = stack.emulator.emulator
    voices_before, generations_before = len(emulator.voices), len(emulator.generations)
    key = jobs.drop_manifest({"source": jobs.put_video("speaker"), "script": LINE, "voice": "fresh"})
    job_id = jobs.job_id(key)
    assert stack.wait_for_job(job_id).status == "SUCCEEDED"
    answers = ingest_events.deliver_again(stack, key, times=2)
    assert [a["jobs"][0]["status"] for a in answers] == ["duplicate", "duplicate"]
    executions = stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(job_id) == 1
    assert (len(emulator.voices) - voices_before, len(emulator.generations) - generations_before) == (1, 1)


@pytest.mark.parametrize(("kind", "code"), [("fail", "lipsync_face_not_found"), ("reject", "generation_rejected")])
def test_a_failed_or_rejected_generation_ends_in_error_json_with_its_code(
    stack: LocalStack, jobs: Jobs, kind: str, code: str, job_events: JobEvents
) -> None:
    stack.emulator.emulator.faults.replace(
        [
            FaultRule(
                target="generation",
                kind=kind,
                error_code="lipsync_face_not_found",
            )
        ]
    )
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.result is None
    assert end.status == "FAILED"
    error = end.error
    assert error is not None
    assert (error["step"], error["errorCode"]) == ("lipsync", code)
    assert "sync. labs ended the generation" in error["reason"]
    assert error["sync"]["generation"]
    assert stack.job(error["jobId"])["status"] == "FAILED"  # type: ignore[index]
    assert jobs.keys(f"results/{error['jobId']}/") == []
    detail = _the_end_event(job_events, error["jobId"], "Job Failed")
    assert (detail["step"], detail["errorCode"], detail["reason"]) == ("lipsync", code, error["reason"])


def test_transient_faults_in_every_step_are_retried_and_the_job_completes(stack: LocalStack, jobs: Jobs) -> None:
    before = stack.runtime.invocations.errors["TransientStepError"]
    stack.emulator.emulator.faults.replace(
        [
            FaultRule(target="POST /v2/assets/upload", kind="server_error", status=503, times=2),
            FaultRule(target="PUT /_storage/upload/*", kind="drop", times=1),
            FaultRule(target="POST /v2/voices", kind="server_error", status=502, times=5),
            FaultRule(target="POST /v2/tts/jobs", kind="rate_limit", delay=0.01, times=2),
            FaultRule(target="GET /v2/tts/jobs/*", kind="drop", times=1),
            FaultRule(target="POST /v2/generate", kind="concurrency_limit", delay=0.01, times=2),
            FaultRule(target="GET /v2/generate/*", kind="server_error", status=500, times=2),
            FaultRule(target="GET /outputs/*", kind="drop", times=1),
        ]
    )
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "voice": "fresh"}, timeout=120)
    assert end.status == "SUCCEEDED"
    injected = stack.emulator.emulator.faults.injected
    assert len(injected) == 16
    assert (
        stack.runtime.invocations.errors["TransientStepError"] > before
    )  # the voice step needed a Step Functions retry


def test_a_job_that_never_finishes_hits_its_polling_bound_and_fails_cleanly(
    stack: LocalStack, jobs: Jobs, job_events: JobEvents
) -> None:
    stack.emulator.emulator.config.processing_seconds = OUTLASTS_THE_JOB
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "poll_seconds": 1, "timeout_seconds": 5})
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("lipsync", "generation_timeout")
    assert "polling budget" in end.error["reason"]
    assert _the_end_event(job_events, end.job_id, "Job Failed")["errorCode"] == "generation_timeout"


def test_an_aborted_execution_is_recorded_as_failed(stack: LocalStack, jobs: Jobs, job_events: JobEvents) -> None:
    import time

    stack.emulator.emulator.config.processing_seconds = OUTLASTS_THE_JOB
    key = jobs.drop_manifest({"source": jobs.put_video("speaker"), "script": LINE, "callback": False})
    job_id = jobs.job_id(key)
    deadline = time.monotonic() + 30
    while (stack.job(job_id) or {}).get("step") != "lipsync":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stack.sfn.stop_execution(executionArn=stack.execution_arn(job_id), error="Operator", cause="testing")
    end = stack.wait_for_job(job_id, timeout=30)
    assert end.status == "ABORTED"
    assert end.error is not None
    assert (end.error["errorCode"], end.error["step"]) == ("execution_aborted", "lipsync")
    assert stack.job(job_id)["status"] == "FAILED"  # type: ignore[index]
    assert _the_end_event(job_events, job_id, "Job Failed")["errorCode"] == "execution_aborted"


def test_a_broken_manifest_is_announced_as_rejected_with_its_reason(jobs: Jobs, job_events: JobEvents) -> None:
    key = jobs.drop_manifest(b'{"source": "media/x.mp4", "script": ')
    detail = _the_end_event(job_events, jobs.job_id(key), "Job Rejected")
    assert (detail["status"], detail["step"], detail["errorCode"]) == ("REJECTED", "ingest", "invalid_manifest")
    assert detail["triggerKey"] == key
