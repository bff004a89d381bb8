"""The seed's flagship flow written with plain httpx from the public docs only, against the emulator."""

from __future__ import annotations

import time

import httpx

from revoice_local import media
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Samples


def test_the_documented_flow_works_with_nothing_but_http(
    emulator: EmulatorServer, samples: Samples, tmp_path: object
) -> None:
    api = httpx.Client(base_url=emulator.url, headers={"x-api-key": emulator.config.api_key})
    data = samples.video.read_bytes()
    ticket = api.post("/v2/assets/upload", json={"fileName": "me.mp4", "contentType": "video/mp4", "size": len(data)})
    assert ticket.status_code == 201
    assert httpx.put(ticket.json()["uploadUrl"], content=data, headers={"Content-Type": "video/mp4"}).is_success
    asset = api.post("/v2/assets", json={"url": ticket.json()["url"], "type": "VIDEO"})
    assert asset.is_success
    voice = api.post("/v2/voices", json={"name": "docs-flow", "assetId": asset.json()["id"]})
    assert voice.status_code == 201
    tts = api.post(
        "/v2/tts", json={"script": "A brand-new line.", "voiceId": voice.json()["voiceId"], "provider": "elevenlabs"}
    )
    assert tts.status_code == 200
    assert set(tts.json()) == {"id", "url", "duration"}
    generation = api.post(
        "/v2/generate",
        json={
            "model": "lipsync-2",
            "input": [{"type": "video", "assetId": asset.json()["id"]}, {"type": "audio", "url": tts.json()["url"]}],
            "options": {"sync_mode": "bounce"},
        },
    )
    assert generation.status_code == 201
    deadline = time.monotonic() + 10
    while (state := api.get(f"/v2/generate/{generation.json()['id']}").json())["status"] not in (
        "COMPLETED",
        "FAILED",
        "REJECTED",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state["status"] == "COMPLETED"
    output = httpx.get(state["outputUrl"])
    assert output.headers["content-type"] == "video/mp4"
    path = samples.video.parent / "docs-flow.mp4"
    path.write_bytes(output.content)
    info = media.probe(path, ".mp4")
    assert info is not None
    assert info.has_video
    assert info.has_audio
    assert api.delete(f"/v2/voices/{voice.json()['voiceId']}").json() is True
