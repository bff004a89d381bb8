"""Copy a video named by an https URL into the jobs bucket, refusing server-side request forgery.

Only ``https`` URLs whose host resolves exclusively to public addresses are fetched (no loopback,
private, link-local, cloud metadata or reserved ranges); redirects are followed by hand, each hop
checked the same way; the size is capped while streaming. (DNS answers can change between the check
and the connection; Lambda's network has no route to private ranges unless placed in a VPC.)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from revoice.pipeline.errors import JobInputError, TransientStepError
from revoice.sync.streams import TooLarge, reader

MAX_REDIRECTS = 3
Resolver = Callable[[str], list[str]]


class UploadTarget(Protocol):
    def upload_stream(self, key: str, stream: IO[bytes], content_type: str) -> None: ...


def resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)})
    except socket.gaierror as exc:
        raise JobInputError("unreachable_url", f"{host} cannot be resolved") from exc


def check_url(url: str, resolver: Resolver = resolve) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise JobInputError("unsafe_url", f"only https URLs can be fetched, not {parts.scheme or 'no scheme'}")
    if not parts.hostname or parts.username or parts.password:
        raise JobInputError("unsafe_url", "the URL needs a host and must not carry credentials")
    addresses = resolver(parts.hostname)
    if not addresses:
        raise JobInputError("unreachable_url", f"{parts.hostname} has no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise JobInputError("unsafe_url", f"{parts.hostname} resolves to a non-public address ({ip}); refused")


def check_notify_url(url: str, trusted_hosts: frozenset[str], resolver: Resolver = resolve) -> None:
    """A job's ``notify_url``: the same rules as a URL source, except for hosts the operator trusts
    (``NotifyTrustedHosts``: a receiver inside the VPC, or the local stack's loopback), which may be plain
    http on a private address."""
    parts = urlsplit(url)
    if parts.hostname in trusted_hosts and parts.scheme in ("http", "https"):
        return
    try:
        check_url(url, resolver)
    except JobInputError as refused:
        raise JobInputError(refused.code, f"notify_url: {refused.reason}") from None


@contextmanager
def open_url(url: str, *, client: httpx.Client, resolver: Resolver = resolve) -> Iterator[httpx.Response]:
    """A streamed, successful answer for ``url`` after checking it and every redirect."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, resolver)
        with client.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 500:
                raise TransientStepError("source_url_unavailable", f"{url} answered {response.status_code}")
            if not response.is_success:
                raise JobInputError("source_url_failed", f"{url} answered {response.status_code}")
            yield response
            return
    raise JobInputError("unsafe_url", f"more than {MAX_REDIRECTS} redirects")


def copy_url(
    url: str, key: str, *, store: UploadTarget, max_bytes: int, client: httpx.Client, resolver: Resolver = resolve
) -> None:
    """Stream ``url`` into ``key``. Nothing is stored when a check fails."""
    try:
        with open_url(url, client=client, resolver=resolver) as response:
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise JobInputError("source_too_large", f"{url} is {declared} bytes; the limit is {max_bytes}")
            store.upload_stream(key, reader(response, max_bytes), response.headers.get("content-type", "video/mp4"))
    except TooLarge as exc:
        raise JobInputError("source_too_large", f"{url} is over the {max_bytes} byte limit") from exc
    except httpx.HTTPError as exc:
        raise TransientStepError("source_url_unavailable", f"fetching {url} failed ({type(exc).__name__})") from exc
