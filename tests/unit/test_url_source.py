"""Fetching https sources: only public addresses, every redirect checked, size capped while streaming."""

from __future__ import annotations

import httpx
import pytest

from revoice.pipeline.errors import JobInputError
from revoice.pipeline.url_source import check_url, copy_url
from tests.fakes import MemoryBucket

PUBLIC = {"videos.example.com": ["93.184.216.34"], "cdn.example.com": ["2606:2800:220:1::1"]}


def resolver(host: str) -> list[str]:
    return PUBLIC.get(
        host, {"inside.example.com": ["10.0.0.5"], "rebind.example.com": ["93.184.216.34", "127.0.0.1"]}.get(host, [])
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://videos.example.com/a.mp4", "unsafe_url"),
        ("ftp://videos.example.com/a.mp4", "unsafe_url"),
        ("https://127.0.0.1/a.mp4", "unsafe_url"),
        ("https://[::1]/a.mp4", "unsafe_url"),
        ("https://169.254.169.254/latest/meta-data/", "unsafe_url"),
        ("https://10.1.2.3/a.mp4", "unsafe_url"),
        ("https://[fd00:ec2::254]/a.mp4", "unsafe_url"),
        ("https://inside.example.com/a.mp4", "unsafe_url"),
        ("https://rebind.example.com/a.mp4", "unsafe_url"),
        ("https://user:pw@videos.example.com/a", "unsafe_url"),
        ("https://nowhere.example.com/a.mp4", "unreachable_url"),
    ],
)
def test_urls_that_could_reach_inside_the_network_are_refused(url: str, code: str) -> None:
    def literal_or_table(host: str) -> list[str]:
        return [host] if host[0].isdigit() or ":" in host else resolver(host)

    with pytest.raises(JobInputError) as caught:
        check_url(url, literal_or_table)
    assert caught.value.code == code


def _client(routes: dict[str, httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: routes[str(request.url)]))


def test_a_public_video_is_streamed_into_the_bucket() -> None:
    bucket = MemoryBucket()
    client = _client({"https://videos.example.com/a.mp4": httpx.Response(200, content=b"video-bytes")})
    copy_url(
        "https://videos.example.com/a.mp4",
        "media/j/a.mp4",
        store=bucket,
        max_bytes=100,
        client=client,
        resolver=resolver,
    )
    assert bucket.objects == {"media/j/a.mp4": b"video-bytes"}


def test_a_redirect_into_the_private_network_is_refused() -> None:
    bucket = MemoryBucket()
    client = _client(
        {
            "https://videos.example.com/a.mp4": httpx.Response(
                302, headers={"location": "https://inside.example.com/secret.mp4"}
            )
        }
    )
    with pytest.raises(JobInputError, match="non-public"):
        copy_url(
            "https://videos.example.com/a.mp4",
            "k",
            store=bucket,
            max_bytes=100,
            client=client,
            resolver=resolver,
        )
    assert bucket.objects == {}


def test_a_body_over_the_limit_is_refused_whatever_content_length_says() -> None:
    client = _client({"https://videos.example.com/big.mp4": httpx.Response(200, content=b"x" * 5000)})
    with pytest.raises(JobInputError) as caught:
        copy_url(
            "https://videos.example.com/big.mp4",
            "k",
            store=MemoryBucket(),
            max_bytes=100,
            client=client,
            resolver=resolver,
        )
    assert caught.value.code == "source_too_large"


def test_a_missing_remote_file_is_a_clear_input_error() -> None:
    client = _client({"https://videos.example.com/gone.mp4": httpx.Response(404)})
    with pytest.raises(JobInputError, match="answered 404"):
        copy_url(
            "https://videos.example.com/gone.mp4",
            "k",
            store=MemoryBucket(),
            max_bytes=100,
            client=client,
            resolver=resolver,
        )
