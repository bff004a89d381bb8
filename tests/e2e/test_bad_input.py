"""Every kind of bad job gets failed/<job>/error.json with a specific code, and starts nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import MAX_UPLOAD_BYTES, Jobs

LINE = "A new line."
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def manifest(jobs: Jobs, **fields: object) -> str:
    return jobs.drop_manifest({"source": jobs.put_video("speaker"), "script": LINE, **fields})


CASES: dict[str, tuple[Callable[[Jobs], str], str, str]] = {
    "invalid JSON": (
        lambda j: j.drop_manifest(b'{"source": "x.mp4", "script": '),
        "invalid_manifest",
        "not valid JSON",
    ),
    "not an object": (lambda j: j.drop_manifest(b'["x.mp4"]'), "invalid_manifest", "JSON object"),
    "empty manifest": (lambda j: j.drop_manifest(b""), "invalid_manifest", "empty"),
    "unknown field": (lambda j: manifest(j, colour="blue"), "invalid_manifest", "unknown field 'colour'"),
    "wrong type": (lambda j: manifest(j, poll_seconds="often"), "invalid_manifest", "'poll_seconds'"),
    "empty script": (lambda j: manifest(j, script="   "), "invalid_manifest", "the script is empty"),
    "5001-character script": (lambda j: manifest(j, script="a" * 5001), "invalid_manifest", "at most 5000"),
    "control characters": (lambda j: manifest(j, script="hi\x07there"), "invalid_manifest", "control characters"),
    "missing source field": (lambda j: j.drop_manifest({"script": LINE}), "invalid_manifest", "'source' is required"),
    "source not in bucket": (
        lambda j: j.drop_manifest({"source": "media/nope.mp4", "script": LINE}),
        "source_missing",
        "not in the bucket",
    ),
    "path traversal": (lambda j: manifest(j, target="media/../secret.mp4"), "invalid_manifest", "'..'"),
    "unsupported suffix in inbox": (
        lambda j: j.put_bytes(f"inbox/{j.prefix}-notes.txt", b"hello"),
        "unsupported_file",
        "neither a job manifest",
    ),
    "source is not a video suffix": (
        lambda j: j.drop_manifest({"source": j.put_bytes(f"media/{j.prefix}.txt", b"x"), "script": LINE}),
        "unsupported_file",
        "must be a video",
    ),
    "0-byte source": (
        lambda j: j.drop_manifest({"source": j.put_bytes(f"media/{j.prefix}-empty.mp4", b""), "script": LINE}),
        "empty_source",
        "0 bytes",
    ),
    "text named .mp4": (
        lambda j: j.drop_manifest(
            {"source": j.put_bytes(f"media/{j.prefix}-fake.mp4", b"hello " * 99), "script": LINE}
        ),
        "not_a_video",
        "not one",
    ),
    "too large for the plan": (
        lambda j: j.drop_manifest(
            {"source": j.put_bytes(f"media/{j.prefix}-big.mp4", MP4_HEAD + b"\0" * MAX_UPLOAD_BYTES), "script": LINE}
        ),
        "source_too_large",
        "the limit is",
    ),
    "video without script metadata": (
        lambda j: j.put_video("speaker", key=f"inbox/{j.prefix}-clip.mp4"),
        "missing_script",
        "x-amz-meta-script",
    ),
    "0-byte video in inbox": (
        lambda j: j.put_bytes(f"inbox/{j.prefix}-zero.MOV", b"", script=LINE),
        "empty_source",
        "0 bytes",
    ),
}


def _error(stack: LocalStack, job_id: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (error := stack.read_json(f"failed/{job_id}/error.json")) is None:
        assert time.monotonic() < deadline, "no error.json was written"
        time.sleep(0.05)
    return error


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_with_a_specific_error_and_starts_nothing(
    stack: LocalStack, jobs: Jobs, case: str
) -> None:
    drop, code, words = CASES[case]
    key = drop(jobs)
    job_id = jobs.job_id(key)
    error = _error(stack, job_id)
    assert (error["status"], error["step"], error["errorCode"]) == ("REJECTED", "ingest", code)
    assert words in str(error["reason"])
    assert stack._execution_status(job_id) is None
    assert (stack.job(job_id) or {}).get("status") == "REJECTED"


def test_a_folder_marker_in_inbox_is_ignored(stack: LocalStack, jobs: Jobs) -> None:
    key = jobs.put_bytes("inbox/some-folder/", b"")
    time.sleep(0.5)
    assert stack.read_json(f"failed/{jobs.job_id(key)}/error.json") is None


def test_a_source_that_vanishes_before_the_push_fails_the_job_clearly(stack: LocalStack, jobs: Jobs) -> None:
    source = jobs.put_video("speaker")

    def vanish(name: str, payload: object) -> None:
        if "PushFunction" in name:
            stack.s3.delete_object(Bucket=stack.bucket, Key=source)

    from revoice_local.stack import inprocess

    inprocess.INVOCATIONS.hooks.append(vanish)
    try:
        end = jobs.run({"source": source, "script": LINE})
    finally:
        inprocess.INVOCATIONS.hooks.remove(vanish)
    assert end.error is not None
    assert (end.error["step"], end.error["errorCode"]) == ("push", "source_missing")
