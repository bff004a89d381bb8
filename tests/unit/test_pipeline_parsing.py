"""Manifests, job ids, inbox keys and error documents: the parsing and naming the pipeline relies on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revoice.pipeline import layout
from revoice.pipeline.errors import JobInputError, SyncStepError, TransientStepError, from_sync, parse_error_message
from revoice.pipeline.failure import describe
from revoice.pipeline.job_id import is_job_id, job_id_for
from revoice.pipeline.manifest import manifest_from_metadata, parse_manifest, validate_manifest
from revoice.pipeline.video_check import looks_like_video
from revoice.sync.errors import SyncApiError, SyncJobFailed, SyncTransportError


def test_a_minimal_manifest_gets_its_defaults() -> None:
    manifest = parse_manifest(b'{"source": "media/a.mp4", "script": "  Hello there.  "}')
    assert (manifest.target_key, manifest.script, manifest.sync_mode, manifest.speech) == (
        "media/a.mp4",
        "Hello there.",
        "bounce",
        "tts",
    )


@pytest.mark.parametrize("length", [1, 5000])
def test_scripts_at_the_limits_are_accepted(length: int) -> None:
    assert len(parse_manifest(json.dumps({"source": "a.mp4", "script": "x" * length}).encode()).script) == length


def _refusal(raw: bytes) -> JobInputError | None:
    try:
        parse_manifest(raw)
    except JobInputError as error:
        return error
    return None


@given(st.binary(max_size=512))
def test_any_bytes_either_parse_or_give_an_invalid_manifest_error(raw: bytes) -> None:
    refusal = _refusal(raw)
    assert refusal is None or (refusal.code == "invalid_manifest" and refusal.reason)


@given(
    st.dictionaries(
        st.sampled_from(["source", "target", "script", "model", "sync_mode", "speech", "extra"]),
        st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans()),
    )
)
def test_any_json_object_either_validates_or_names_its_fields(data: dict[str, object]) -> None:
    refusal = _refusal(json.dumps(data).encode())
    assert refusal is None or (refusal.code == "invalid_manifest" and "'" in refusal.reason)


def test_metadata_scripts_may_be_rfc2047_encoded_for_non_ascii_text() -> None:
    manifest = manifest_from_metadata(
        "inbox/a.mp4", {"script": "=?UTF-8?B?R3LDvMOfIEdvdHQh?=", "sync-mode": "loop", "x-unrelated": "ignored"}
    )
    assert (manifest.script, manifest.sync_mode) == ("Grüß Gott!", "loop")


def test_a_video_without_a_script_says_how_to_fix_it() -> None:
    with pytest.raises(JobInputError, match="x-amz-meta-script"):
        manifest_from_metadata("inbox/a.mp4", {})


def test_job_ids_are_deterministic_readable_and_valid_execution_names() -> None:
    first = job_id_for("bucket", "inbox/My Big Launch (final).json", "v1")
    assert first == job_id_for("bucket", "inbox/My Big Launch (final).json", "v1")
    assert first.startswith("my-big-launch-final-")
    assert first != job_id_for("bucket", "inbox/My Big Launch (final).json", "v2")
    assert first != job_id_for("other", "inbox/My Big Launch (final).json", "v1")


@given(st.text(min_size=1, max_size=300), st.text(max_size=40))
def test_any_key_gives_a_job_id_fit_for_an_execution_name_and_idempotency_key(key: str, version: str) -> None:
    job_id = job_id_for("b", key, version)
    assert len(job_id) <= 80
    assert is_job_id(job_id)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("inbox/My+Clip+%281%29.MP4", "inbox/My Clip (1).MP4"),
        ("inbox%2Fa.json", "inbox/a.json"),
        ("inbox/%C3%BCber.mov", "inbox/über.mov"),
    ],
)
def test_event_keys_are_url_decoded(raw: str, key: str) -> None:
    assert layout.decode_event_key(raw) == key


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("inbox/a.JSON", "manifest"),
        ("inbox/a.MoV", "video"),
        ("inbox/a.webm", "video"),
        ("inbox/a.avi", "video"),
        ("inbox/a.txt", "unsupported"),
        ("inbox/sub/", "folder"),
    ],
)
def test_inbox_suffixes_match_in_any_case(key: str, kind: str) -> None:
    assert layout.inbox_kind(key) == kind


def test_outputs_never_land_under_inbox() -> None:
    keys = [layout.output_key("j"), layout.result_key("j"), layout.error_key("j"), layout.speech_key("j", ".wav")]
    assert not any(key.startswith(layout.INBOX) for key in keys)


@pytest.mark.parametrize(
    ("head", "video"),
    [
        (b"\x00\x00\x00\x18ftypmp42", True),
        (b"\x1a\x45\xdf\xa3\x01", True),
        (b"RIFF\x00\x00\x00\x00AVI LIST", True),
        (b"hello world!", False),
        (b"", False),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", False),
    ],
)
def test_videos_are_recognised_by_their_first_bytes(head: bytes, video: bool) -> None:
    assert looks_like_video(head) is video


def test_sync_errors_map_to_retryable_or_permanent_step_errors_with_advice() -> None:
    slots = from_sync(SyncApiError(403, "voice_clone_limit_reached", "full"), "cloning the voice")
    assert isinstance(slots, SyncStepError)
    assert str(slots).startswith("voice_clone_limit_reached: cloning the voice: sync. labs said full. All clone")
    assert isinstance(from_sync(SyncApiError(503, "service_unavailable", "busy"), "x"), TransientStepError)
    assert isinstance(from_sync(SyncTransportError("timeout", "slow"), "x"), TransientStepError)
    failed = from_sync(SyncJobFailed("tts", "t1", "FAILED", "tts_failed", "bad"), "speaking")
    assert (type(failed), failed.code) == (SyncStepError, "tts_failed")


@pytest.mark.parametrize(
    ("message", "parsed"),
    [
        ("voice_not_found: gone", ("voice_not_found", "gone")),
        ("KeyError 'x'", (None, "KeyError 'x'")),
        ("a b: c", (None, "a b: c")),
    ],
)
def test_error_messages_split_into_code_and_reason(message: str, parsed: tuple[str | None, str]) -> None:
    assert parse_error_message(message) == parsed


def test_the_failure_recorder_reads_lambda_errors_timeouts_and_failed_generations() -> None:
    lambda_error = {
        "Error": "SyncStepError",
        "Cause": json.dumps(
            {"errorMessage": "voice_sample_too_short: cloning the voice: too short", "errorType": "SyncStepError"}
        ),
    }
    assert describe(lambda_error, "voice", None)[:2] == ("voice_sample_too_short", "cloning the voice: too short")
    assert describe({"Error": "States.Timeout", "Cause": ""}, "push", None)[0] == "step_timeout"
    crash = {"Error": "KeyError", "Cause": json.dumps({"errorMessage": "'job'", "errorType": "KeyError"})}
    assert describe(crash, "store", None)[:2] == (
        "internal_error",
        "storing the results failed unexpectedly: KeyError: 'job'",
    )
    generation = {"status": "REJECTED", "errorCode": None, "error": "moderation"}
    assert describe(None, "lipsync", generation)[:2] == (
        "generation_rejected",
        "sync. labs ended the generation REJECTED: moderation",
    )


def test_a_manifest_asking_for_a_day_of_polling_every_second_is_polled_less_often_to_fit_the_history() -> None:
    from revoice.pipeline.history import HISTORY_BUDGET, worst_case_events
    from revoice.pipeline.ingest import job_config
    from revoice.pipeline.manifest import JobManifest
    from revoice.pipeline.state import RunConfig

    manifest = JobManifest(source="media/a.mp4", script="Hello.", poll_seconds=1, timeout_seconds=86_400)
    config = job_config(RunConfig(), manifest)
    assert worst_case_events(config) <= HISTORY_BUDGET
    assert config.poll_seconds * config.max_generation_polls >= 86_400 - config.poll_seconds  # still a day
    assert config.poll_seconds > 1
    short = job_config(
        RunConfig(), JobManifest(source="media/a.mp4", script="Hello.", poll_seconds=2, timeout_seconds=600)
    )
    assert (short.poll_seconds, short.max_generation_polls) == (2, 300)  # what it asked for, as it fits


def test_a_manifest_may_spell_its_fields_as_revoice_writes_them_in_result_json() -> None:
    manifest = validate_manifest(
        {"source": "in/a.mp4", "script": "Hi.", "syncMode": "loop", "outputName": "fr", "pollSeconds": 5}
    )
    assert (manifest.sync_mode, manifest.output_name, manifest.poll_seconds) == ("loop", "fr", 5)


def test_a_field_given_in_both_spellings_is_refused_by_name() -> None:
    with pytest.raises(JobInputError) as caught:
        validate_manifest({"source": "in/a.mp4", "script": "Hi.", "sync_mode": "loop", "syncMode": "cut_off"})
    assert "'sync_mode' and 'syncMode' are one field" in str(caught.value)


def test_a_bad_value_is_reported_under_the_spelling_the_manifest_used() -> None:
    with pytest.raises(JobInputError) as caught:
        validate_manifest({"source": "in/a.mp4", "script": "Hi.", "syncMode": "stretch"})
    assert "'syncMode': Input should be" in str(caught.value)
