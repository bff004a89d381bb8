"""Request models refuse what the API would refuse, before a request is spent on it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from revoice.sync.models import GenerateRequest, MediaInput, TextInput, TtsProvider, TtsRequest


def test_generate_requests_are_sent_in_camel_case_without_unset_fields() -> None:
    request = GenerateRequest(
        model="lipsync-2-pro",
        input=[MediaInput(type="video", asset_id="a1"), TextInput(provider=TtsProvider(voice_id="v1", script="Hello"))],
        options={"sync_mode": "loop"},
        webhook_url="https://hooks.example/sync",
        output_file_name="clip_01",
    )
    assert request.wire() == {
        "model": "lipsync-2-pro",
        "input": [
            {"type": "video", "assetId": "a1"},
            {"type": "text", "provider": {"name": "elevenlabs", "voiceId": "v1", "script": "Hello"}},
        ],
        "options": {"sync_mode": "loop"},
        "webhookUrl": "https://hooks.example/sync",
        "outputFileName": "clip_01",
    }


@pytest.mark.parametrize("sources", [{}, {"url": "u", "asset_id": "a"}])
def test_a_media_input_needs_exactly_one_source(sources: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of url or assetId"):
        MediaInput(type="video", **sources)


@pytest.mark.parametrize("name", ["has space", "dot.mp4", "x" * 256, "ünïcode"])
def test_output_file_names_outside_the_documented_alphabet_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="outputFileName"):
        GenerateRequest(
            input=[MediaInput(type="video", url="u"), MediaInput(type="audio", url="a")], output_file_name=name
        )


@pytest.mark.parametrize(("length", "ok"), [(0, False), (1, True), (5000, True), (5001, False)])
def test_scripts_must_be_one_to_five_thousand_characters(length: int, ok: bool) -> None:
    if ok:
        assert len(TtsRequest(script="a" * length, voice_id="v").script) == length
    else:
        with pytest.raises(ValidationError):
            TtsRequest(script="a" * length, voice_id="v")


def test_unknown_models_are_refused() -> None:
    with pytest.raises(ValidationError):
        GenerateRequest(
            model="lipsync-9",
            input=[
                MediaInput(type="video", url="u"),
                MediaInput(type="audio", url="a"),
            ],
        )
