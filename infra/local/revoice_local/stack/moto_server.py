"""moto's server on loopback, with S3's answer for missing keys, and the seams of :mod:`moto_seams`
(DynamoDB's atomic conditional writes among them).

S3 answers a GET or HEAD of a missing key with 404 only to a caller that may list the bucket
(``s3:ListBucket``); to anyone else it answers 403, so that keys cannot be probed. moto always answers
404. Everything else is what ``moto.server.ThreadedMotoServer`` does.

S3 keeps an object's bytes in memory up to ``S3_IN_MEMORY_BYTES`` and in a temporary file beyond (moto's
default is 5 MB, so a campaign line's objects, about 160 KB, all stayed in the process: 47 MB for 300
lines, a third of what a long campaign added to the local stack's memory). A file holds a descriptor
while its object exists (about 1.5 a campaign line), so the process raises its open-files limit as far as
the system lets it (macOS refuses more than ``kern.maxfilesperproc`` whatever the hard limit says), and
keeps objects in memory, as moto does, where it cannot open ``FILES_FOR_OBJECTS_ON_DISK``: a long
campaign then costs memory instead of failing with "too many open files".
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from revoice_local.stack import iam, moto_seams

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MissingKeysNeedListBucket:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        bucket, _, key = str(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
        signed_for_s3 = "/s3/aws4_request" in str(environ.get("HTTP_AUTHORIZATION", ""))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or not key or not signed_for_s3 or not iam.enforced():
            return self._app(environ, start_response)
        answered: list[Any] = []
        body = list(self._app(environ, lambda status, headers, exc_info=None: answered.append((status, headers))))
        status, headers = answered[0]
        headers_in = {k[5:].replace("_", "-").title(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        if status.startswith("404") and not iam.may(headers_in, "s3:ListBucket", f"arn:aws:s3:::{bucket}"):
            denied = b"" if environ["REQUEST_METHOD"] == "HEAD" else ACCESS_DENIED
            start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(denied)))])
            return [denied]
        start_response(status, headers)
        return body


ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)


S3_IN_MEMORY_BYTES = 64 * 1024
MOST_OPEN_FILES = 65536
FILES_FOR_OBJECTS_ON_DISK = 8192  # a 5,000-line campaign's objects, with room for the stack's sockets


def keep_large_objects_on_disk() -> None:
    """What moto reads each time an object is stored, where the open-files limit allows it."""
    if raise_open_files_limit() >= FILES_FOR_OBJECTS_ON_DISK:
        os.environ["MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"] = str(S3_IN_MEMORY_BYTES)


def raise_open_files_limit() -> int:
    """The soft limit raised toward ``MOST_OPEN_FILES`` (halving what the system refuses); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MOST_OPEN_FILES
    wanted = MOST_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MOST_OPEN_FILES)
    while wanted > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        wanted //= 2
    return soft


class LocalMotoServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        moto_seams.install()
        keep_large_objects_on_disk()
        app = MissingKeysNeedListBucket(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> LocalMotoServer:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
