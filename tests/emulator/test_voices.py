"""Voices: built-ins, clones, clone slots and every documented clone error, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from revoice.sync import SyncApiError, SyncClient
from revoice.sync.retry import NO_RETRY
from revoice_local import media
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Samples, fast_client, upload


def test_the_voice_list_is_a_bare_array_of_built_ins_and_clones(client: SyncClient, samples: Samples) -> None:
    builtins = client.list_voices()
    assert builtins
    assert all(v.provider == "elevenlabs" for v in builtins)
    clone = client.clone_voice("revoice-one", asset_id=upload(client, samples.video).id)
    assert clone.internal_voice_id
    assert [v.id for v in client.list_voices()] == [v.id for v in builtins] + [clone.id]
    assert clone.id is not None
    assert client.get_voice(clone.id).name == "revoice-one"


def test_a_clone_can_come_from_a_storage_url_instead_of_an_asset(client: SyncClient, samples: Samples) -> None:
    asset = upload(client, samples.video)
    assert client.clone_voice("revoice-by-url", url=asset.url).name == "revoice-by-url"


@pytest.mark.parametrize("sources", [{}, {"assetId": "x", "url": "y"}])
def test_both_or_neither_source_is_a_400(client: SyncClient, sources: dict[str, str]) -> None:
    with pytest.raises(SyncApiError) as caught:
        client._json("POST", "/v2/voices", json={"name": "n", **sources})
    assert (caught.value.status_code, caught.value.error_code) == (400, "bad_request")
    assert "exactly one of url or assetId" in caught.value.message


@pytest.mark.parametrize("source", [{"url": "https://cdn.example.com/me.mp4"}, {"assetId": "not-an-asset"}])
def test_sources_outside_sync_storage_need_an_upload_first(client: SyncClient, source: dict[str, str]) -> None:
    with pytest.raises(SyncApiError) as caught:
        client.clone_voice("revoice-x", asset_id=source.get("assetId"), url=source.get("url"))
    assert (caught.value.status_code, caught.value.error_code) == (422, "voice_sample_upload_required")


def test_a_taken_name_is_a_409_and_is_not_retried(
    emulator: EmulatorServer, client: SyncClient, samples: Samples
) -> None:
    asset = upload(client, samples.video)
    client.clone_voice("revoice-same", asset_id=asset.id)
    before = emulator.emulator.requests
    with pytest.raises(SyncApiError) as caught:
        client.clone_voice("revoice-same", asset_id=asset.id)
    assert (caught.value.status_code, caught.value.error_code) == (409, "voice_name_conflict")
    assert emulator.emulator.requests - before == 1


def test_full_clone_slots_answer_403_until_a_voice_is_deleted(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    with fast_client(emulator_factory(clone_slots=2)) as client:
        asset = upload(client, samples.video)
        first = client.clone_voice("revoice-a", asset_id=asset.id)
        client.clone_voice("revoice-b", asset_id=asset.id)
        with pytest.raises(SyncApiError) as caught:
            client.clone_voice("revoice-c", asset_id=asset.id)
        assert (caught.value.status_code, caught.value.error_code) == (403, "voice_clone_limit_reached")
        assert caught.value.suggestion
        assert first.id is not None
        assert client.delete_voice(first.id) is True
        assert client.clone_voice("revoice-c", asset_id=asset.id).name == "revoice-c"


def test_deleting_an_unknown_or_built_in_voice_is_a_404(client: SyncClient) -> None:
    for voice_id in ("no-such-voice", str(client.list_voices()[0].id)):
        with pytest.raises(SyncApiError) as caught:
            client.delete_voice(voice_id)
        assert (caught.value.status_code, caught.value.error_code) == (404, "voice_not_found")


def test_video_samples_over_the_size_limit_are_a_413(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    with fast_client(emulator_factory(max_voice_video_bytes=1000)) as client, pytest.raises(SyncApiError) as caught:
        client.clone_voice("revoice-big", asset_id=upload(client, samples.video).id)
    assert (caught.value.status_code, caught.value.error_code) == (413, "voice_sample_source_too_large")


def test_samples_without_readable_audio_or_too_short_are_a_400(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    with fast_client(emulator_factory(min_sample_seconds=2.0)) as client:
        with pytest.raises(SyncApiError) as caught:
            client.clone_voice("revoice-text", asset_id=upload(client, samples.text_as_mp4).id)
        assert (caught.value.status_code, caught.value.error_code) == (400, "voice_sample_invalid")
        with pytest.raises(SyncApiError) as caught:
            client.clone_voice("revoice-short", asset_id=upload(client, samples.silent_video).id)
        assert (caught.value.status_code, caught.value.error_code) == (400, "voice_sample_too_short")


@pytest.mark.parametrize("hints", [False, True])
def test_cloning_is_rate_limited_per_hour_with_or_without_saying_when(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, hints: bool
) -> None:
    """The rate-limit pages document the body only; other pages show Retry-After and retryAfterSeconds."""
    emulator = emulator_factory(clones_per_hour=2, time_scale=1.0, clone_seconds=0.01, rate_limit_hints=hints)
    with fast_client(emulator, retry=NO_RETRY) as client:
        asset = upload(client, samples.video)
        client.clone_voice("revoice-1", asset_id=asset.id)
        client.clone_voice("revoice-2", asset_id=asset.id)
        with pytest.raises(SyncApiError) as caught:
            client.clone_voice("revoice-3", asset_id=asset.id)
    assert (caught.value.status_code, caught.value.error_code) == (429, "rate_limit_exceeded")
    if hints:
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 3000
    else:
        assert caught.value.retry_after is None


def test_a_second_clone_while_one_is_running_is_told_to_wait(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(time_scale=1.0, clone_seconds=2.0)
    errors: list[SyncApiError] = []
    with fast_client(emulator, retry=NO_RETRY) as client:
        asset = upload(client, samples.video)
        slow = threading.Thread(target=client.clone_voice, args=("revoice-slow",), kwargs={"asset_id": asset.id})
        slow.start()
        deadline = time.monotonic() + 10
        while not emulator.emulator.cloning():  # the first clone has reached the server and is being made
            assert time.monotonic() < deadline
            time.sleep(0.01)
        try:
            client.clone_voice("revoice-eager", asset_id=asset.id)
        except SyncApiError as exc:
            errors.append(exc)
        slow.join()
    assert [(e.status_code, e.error_code) for e in errors] == [(429, "voice_clone_busy")]


def test_a_second_clone_arriving_while_the_first_sample_is_still_read_is_told_to_wait(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One clone at a time from the moment one is accepted, not only once its sample was read."""
    reading, go_on = threading.Event(), threading.Event()
    probe = media.probe

    def slow_probe(*args: Any) -> Any:
        reading.set()
        assert go_on.wait(10)
        return probe(*args)

    emulator = emulator_factory()
    with fast_client(emulator, retry=NO_RETRY) as client:
        asset = upload(client, samples.video)
        monkeypatch.setattr(media, "probe", slow_probe)
        first = threading.Thread(target=client.clone_voice, args=("revoice-first",), kwargs={"asset_id": asset.id})
        first.start()
        assert reading.wait(10)
        with pytest.raises(SyncApiError) as caught:
            client.clone_voice("revoice-second", asset_id=asset.id)
        go_on.set()
        first.join()
    assert (caught.value.status_code, caught.value.error_code) == (429, "voice_clone_busy")
    assert [v.name for v in emulator.emulator.voices.values()] == ["revoice-first"]
