"""The "Fetch sources" step: https sources copied into downloads/<job>/, then checked like any key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from revoice.pipeline.errors import JobInputError
from revoice.pipeline.fetch import download_key, fetch_sources
from revoice.pipeline.state import JobState
from tests.fakes import MemoryBucket, MemoryJobs

EVENTS = Path(__file__).resolve().parents[2] / "events"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
PUBLIC = {"videos.example.com": ["93.184.216.34"]}


def _state(**manifest: Any) -> JobState:
    event = json.loads((EVENTS / "state-push.json").read_text())
    event["manifest"].update(manifest)
    event["needsFetch"] = True
    return JobState.model_validate(event)


def _http(routes: dict[str, httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: routes[str(request.url)]))


def test_url_sources_are_copied_and_the_manifest_then_names_the_copies() -> None:
    bucket, jobs = MemoryBucket(), MemoryJobs()
    url = "https://videos.example.com/talks/speaker.mp4"
    state = _state(source=url)
    moved = fetch_sources(
        state,
        store=bucket,
        jobs=jobs,
        http=_http({url: httpx.Response(200, content=MP4)}),
        resolver=lambda host: PUBLIC.get(host, []),
    )
    copy = download_key(state.job.id, "source", url)
    assert copy == f"downloads/{state.job.id}/source-speaker.mp4"
    assert bucket.objects == {copy: MP4}
    assert (moved.manifest.source, moved.manifest.target_key, moved.needs_fetch) == (copy, copy, False)
    assert jobs.steps == {state.job.id: ["fetch"]}
    assert moved.wire()["needsFetch"] is False  # the ASL's "Fetch sources?" reads it


def test_a_url_that_is_not_a_video_fails_the_step_like_a_key_would() -> None:
    url = "https://videos.example.com/notes.mp4"
    with pytest.raises(JobInputError) as caught:
        fetch_sources(
            _state(source=url),
            store=MemoryBucket(),
            jobs=MemoryJobs(),
            http=_http({url: httpx.Response(200, content=b"not a video at all")}),
            resolver=lambda host: PUBLIC.get(host, []),
        )
    assert caught.value.code == "not_a_video"


def test_a_name_without_a_video_suffix_gets_one() -> None:
    assert download_key("j", "target", "https://cdn.example.com/play?id=7").endswith("/target-play.mp4")
