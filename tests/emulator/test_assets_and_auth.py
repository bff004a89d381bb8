"""Storage and assets through the client, over real HTTP: uploads, presigned URLs, limits, auth."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from revoice.sync import SyncApiError, SyncClient
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Samples, fast_client, upload


def test_a_wrong_or_missing_api_key_gets_the_documented_401(emulator: EmulatorServer) -> None:
    with SyncClient("sk-wrong", base_url=emulator.url) as wrong, pytest.raises(SyncApiError) as caught:
        wrong.list_voices()
    assert (caught.value.status_code, caught.value.error_code, caught.value.message) == (
        401,
        "unauthorized",  # the client's name for a 401 that carries no errorCode
        "Invalid API key",
    )
    answer = httpx.get(f"{emulator.url}/v2/voices")
    assert answer.status_code == 401
    assert answer.json() == {"statusCode": 401, "message": "Missing x-api-key header", "error": "Unauthorized"}


def test_an_uploaded_video_becomes_an_asset_with_its_media_facts(client: SyncClient, samples: Samples) -> None:
    asset = upload(client, samples.video)
    assert asset.type == "VIDEO"
    assert (asset.format, asset.width, asset.height, asset.size) == ("mp4", 320, 240, samples.video.stat().st_size)
    assert asset.duration_seconds is not None
    assert asset.duration_seconds > 3
    assert client.get_asset(asset.id) == asset
    copy = samples.video.parent / "copy.mp4"
    with copy.open("wb") as sink:
        client.download(str(asset.url), sink)
    assert copy.read_bytes() == samples.video.read_bytes()


def test_assets_are_listed_page_by_page_and_can_be_deleted(client: SyncClient, samples: Samples) -> None:
    made = {upload(client, samples.audio, "audio/wav", "AUDIO").id for _ in range(3)}
    first, cursor = client.list_assets(limit=2)
    second, end = client.list_assets(limit=2, cursor=cursor)
    assert {a.id for a in first + second} == made
    assert end is None
    client.delete_asset(first[0].id)
    with pytest.raises(SyncApiError) as caught:
        client.get_asset(first[0].id)
    assert (caught.value.status_code, caught.value.error_code) == (404, "asset_not_found")


def _ticket(emulator: EmulatorServer, size: int, content_type: str = "video/mp4") -> dict[str, str]:
    answer = httpx.post(
        f"{emulator.url}/v2/assets/upload",
        headers={"x-api-key": emulator.config.api_key},
        json={"fileName": "clip.mp4", "contentType": content_type, "size": size},
    )
    assert answer.status_code == 201
    return dict(answer.json())


def test_a_presigned_put_with_another_content_type_is_refused(emulator: EmulatorServer) -> None:
    ticket = _ticket(emulator, 4)
    answer = httpx.put(ticket["uploadUrl"], content=b"abcd", headers={"content-type": "application/octet-stream"})
    assert answer.status_code == 403
    assert "SignatureDoesNotMatch" in answer.text


def test_an_expired_upload_url_is_refused(emulator_factory: Callable[..., EmulatorServer]) -> None:
    emulator = emulator_factory(upload_url_ttl=0)
    ticket = _ticket(emulator, 4)
    time.sleep(0.01)
    answer = httpx.put(ticket["uploadUrl"], content=b"abcd", headers={"content-type": "video/mp4"})
    assert (answer.status_code, "expired" in answer.text) == (403, True)


def test_a_body_shorter_than_declared_is_refused_and_not_stored(emulator: EmulatorServer) -> None:
    ticket = _ticket(emulator, 10)
    answer = httpx.put(ticket["uploadUrl"], content=b"abcd", headers={"content-type": "video/mp4"})
    assert answer.status_code == 400
    assert httpx.get(ticket["url"]).status_code == 404


def test_files_over_the_plan_limit_are_refused_when_registered_as_assets(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    """The plan's file-size limit is checked at POST /v2/assets (422), not when the upload is asked for."""
    emulator = emulator_factory(max_upload_bytes=1000)
    with fast_client(emulator) as client, pytest.raises(SyncApiError) as caught:
        upload(client, samples.video)
    assert (caught.value.status_code, caught.value.error_code) == (422, "file_size_exceeds_plan_limit")


def test_a_public_url_registers_as_an_asset_and_a_missing_storage_file_does_not(
    client: SyncClient, emulator: EmulatorServer
) -> None:
    public = client._json("POST", "/v2/assets", json={"url": "https://example.com/video.mp4", "type": "VIDEO"})
    assert (public["inputType"], public["visibility"], public["url"]) == (
        "url",
        "USER",
        "https://example.com/video.mp4",
    )
    assert {"thumbnailUrl", "projectId"} <= set(public)
    with pytest.raises(SyncApiError) as caught:
        client._json("POST", "/v2/assets", json={"url": f"{emulator.url}/uploads/nope/missing.mp4", "type": "VIDEO"})
    assert (caught.value.status_code, caught.value.error_code) == (404, "uploaded_file_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"fileName": "", "contentType": "video/mp4", "size": 1},
        {"fileName": "a.mp4", "contentType": "mp4", "size": 1},
        {"fileName": "a.mp4", "contentType": "video/mp4", "size": 0},
    ],
)
def test_malformed_upload_requests_get_a_validation_error(client: SyncClient, body: dict[str, object]) -> None:
    """A request of the wrong shape: 400 with the problems listed and no errorCode (the client calls it
    bad_request)."""
    with pytest.raises(SyncApiError) as caught:
        client._json("POST", "/v2/assets/upload", json=body)
    assert (caught.value.status_code, caught.value.error_code) == (400, "bad_request")
    assert "must" in caught.value.message


def test_uploads_stream_from_a_file_object_of_known_size(client: SyncClient, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (5 * 1024 * 1024 + 7))
    asset = client.upload(
        lambda: big.open("rb"),
        size=big.stat().st_size,
        file_name="big.bin",
        content_type="application/octet-stream",
        asset_type="VIDEO",
    )
    assert asset.size == big.stat().st_size
