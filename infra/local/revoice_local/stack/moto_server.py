"""moto's server on loopback, with DynamoDB writes made atomic and S3's answer for missing keys.

moto checks a ``ConditionExpression`` and then applies the write without holding a lock, so two
threads can both pass the same condition. DynamoDB does the two atomically, and revoice relies on that
(the generation-slot lease, voice holds, idempotent starts). Serialising moto's DynamoDB calls gives
the local stack the same guarantee.

S3 answers a GET or HEAD of a missing key with 404 only to a caller that may list the bucket
(``s3:ListBucket``); to anyone else it answers 403, so that keys cannot be probed. moto always answers
404. Everything else is what ``moto.server.ThreadedMotoServer`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from revoice_local.stack import iam

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AtomicDynamoDB:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


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


class LocalMotoServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        app = MissingKeysNeedListBucket(AtomicDynamoDB(DomainDispatcherApplication(create_backend_app)))
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
