"""The official sync. labs SDK (PyPI ``syncsdk`` 0.3.0), unchanged, against the emulator.

If the SDK that sync. labs publishes works here, code written from the public docs will too.
"""

from __future__ import annotations

import time

import pytest
from sync import Sync
from sync.common import Audio, GenerationOptions, Video
from sync.common.errors import NotFoundError

from revoice.sync import SyncClient
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Samples, upload


@pytest.fixture
def sdk(emulator: EmulatorServer) -> Sync:
    return Sync(base_url=emulator.url, api_key=emulator.config.api_key)


def test_the_sdk_creates_polls_and_lists_a_generation(sdk: Sync, client: SyncClient, samples: Samples) -> None:
    video = upload(client, samples.video)
    audio = upload(client, samples.audio, "audio/wav", "AUDIO")
    created = sdk.generations.create(
        model="lipsync-2",
        input=[Video(url=video.url), Audio(url=audio.url)],
        options=GenerationOptions(sync_mode="cut_off"),
        output_file_name="sdk_clip",
    )
    assert created.status == "PENDING"
    deadline = time.monotonic() + 10
    while (current := sdk.generations.get(created.id)).status not in ("COMPLETED", "FAILED", "REJECTED"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert current.status == "COMPLETED"
    assert current.output_url
    assert current.output_url.split("?")[0].endswith("/sdk_clip.mp4")
    assert [g.id for g in sdk.generations.list(status=["COMPLETED"])] == [created.id]
    [estimate] = sdk.generations.estimate_cost(model="lipsync-2", input=[Video(url=video.url), Audio(url=audio.url)])
    assert estimate.estimated_frame_count > 0


def test_the_sdk_reads_assets_and_pages(sdk: Sync, client: SyncClient, samples: Samples) -> None:
    asset = upload(client, samples.video)
    page = sdk.assets.list()
    assert [a.id for a in page.items] == [asset.id]
    assert page.total_count == 1
    fetched = sdk.assets.get(asset.id)
    assert (fetched.id, fetched.url) == (asset.id, asset.url)


def test_the_sdk_sees_documented_errors_as_its_own_error_types(sdk: Sync) -> None:
    with pytest.raises(NotFoundError) as caught:
        sdk.generations.get("does-not-exist")
    body = caught.value.body
    assert (caught.value.status_code, body.status_code) == (404, 404)
    assert body.message == "Generation does-not-exist does not exist"
    assert (body.model_extra or {}).get("errorCode") == "generation_not_found"
