"""The stack's HTTP API on loopback: requests become HTTP API v2 events for the template's routes.

moto has no API Gateway -> Lambda integration, so this small server plays API Gateway: it matches the
method and path against the ``HttpApi`` events declared in ``infra/template.yaml``, invokes the
function through moto's Lambda API (so the handler runs as it would in AWS), and answers with the
function's ``statusCode``, headers and body. The emulator's webhooks and ``revoice`` both talk to it.

It keeps API Gateway's limits: an integration that has not answered within 30 seconds gets the client a
503 (while the function goes on), and a request body over 10 MB a 413.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3

from revoice_local.stack.template import ACCOUNT, LocalPlan

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")
INTEGRATION_TIMEOUT_SECONDS = 30.0  # HTTP APIs' hard limit
MAX_REQUEST_BYTES = 10 * 1024 * 1024


class HttpApiRelay:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.create_server((host, 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.routes: list[tuple[str, re.Pattern[str], str, str]] = []
        self.requests = 0
        self.integration_timeout = INTEGRATION_TIMEOUT_SECONDS
        self._client: Any = None
        self._client_lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                relay.requests += 1
                status, headers, body = relay.handle(
                    self.command, self.path, dict(self.headers.items()), self._body(), self.client_address[0]
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, self.port), Handler, bind_and_activate=False)
        self._server.socket = self._socket
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def _lambda(self) -> Any:
        """One Lambda client for the relay's threads (making one costs more than a call)."""
        with self._client_lock:
            if self._client is None:
                self._client = boto3.client("lambda")
            return self._client

    def configure(self, plan: LocalPlan) -> None:
        for function in plan.functions.values():
            for method, path in function.http_routes:
                pattern = re.compile("^" + re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", path) + "$")
                self.routes.append((method, pattern, f"{method} {path}", function.name))

    def start(self) -> None:
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        if len(body) > MAX_REQUEST_BYTES:
            return 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
        parts = urlsplit(target)
        for route_method, pattern, route_key, function in self.routes:
            match = pattern.match(parts.path)
            if match and route_method == method:
                event = self._event(
                    method, parts.path, parts.query, headers, body, source_ip, route_key, match.groupdict()
                )
                return self._invoke(function, event)
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'

    def _event(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
        route_key: str,
        path_parameters: dict[str, str],
    ) -> dict[str, Any]:
        lowered = {name.lower(): value for name, value in headers.items()}
        textual = any(lowered.get("content-type", "").startswith(t) for t in TEXT_TYPES)
        try:
            text, encoded = (body.decode(), False) if textual else (base64.b64encode(body).decode(), True)
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": lowered,
            "isBase64Encoded": encoded,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "domainName": f"127.0.0.1:{self.port}",
                "domainPrefix": "127",
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": lowered.get("user-agent", ""),
                },
            },
        }
        if body:
            event["body"] = text
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query))
        if path_parameters:
            event["pathParameters"] = path_parameters
        return event

    def _invoke(self, function: str, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        answers: list[Any] = []

        def call() -> None:
            try:
                answers.append(self._lambda().invoke(FunctionName=function, Payload=json.dumps(event).encode()))
            except Exception as error:
                answers.append(error)

        invocation = threading.Thread(target=call, daemon=True)
        invocation.start()
        invocation.join(self.integration_timeout)
        if not answers:  # API Gateway gives up on the integration; the function runs on
            return 503, {"content-type": "application/json"}, b'{"message":"Service Unavailable"}'
        answer = answers[0]
        if isinstance(answer, Exception):
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(payload, dict):
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
        headers = {str(k).lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
        return int(payload.get("statusCode", 200)), headers, data
