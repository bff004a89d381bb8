"""X-Ray, locally: the daemon the functions' X-Ray SDK sends its segments to (UDP on loopback), and the
sampling decision Lambda passes each traced invocation in its trace header.

Lambda samples a function with ``Tracing: Active`` by X-Ray's default rule (the first request each second,
then 5 % of the rest) and says so in ``Lambda-Runtime-Trace-Id`` (``Sampled=1``); the SDK in the function
sends what it records to ``AWS_XRAY_DAEMON_ADDRESS``. Here the daemon keeps every document it receives,
so tests can read what a deployed stack would show in X-Ray, and check that no secret is in it. It keeps
them as the JSON text they came in, parsed when read: parsed on arrival, they cost a long campaign about
75 KB of the local stack's memory a line (tracemalloc, 100 lines), about nine times their text.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from typing import Any

RESERVOIR_PER_SECOND = 1
FIXED_RATE = 0.05


class XRayDaemon:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._documents: list[bytes] = []
        self.sample_everything = False  # tests: trace every invocation of a traced function
        self._reservoir: dict[str, int] = {}
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        threading.Thread(target=self._receive, name="xray-daemon", daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    def environment(self) -> dict[str, str]:
        """What Lambda sets for a traced function."""
        host, port = self.address.split(":")
        return {
            "AWS_XRAY_DAEMON_ADDRESS": self.address,
            "_AWS_XRAY_DAEMON_ADDRESS": host,
            "_AWS_XRAY_DAEMON_PORT": port,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }

    def trace_header(self, function_name: str, traced: bool) -> str:
        """A new trace's header for one invocation: sampled by X-Ray's default rule when ``traced``."""
        trace_id = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        return f"Root={trace_id};Parent={uuid.uuid4().hex[:16]};Sampled={int(traced and self._sampled(function_name))}"

    def _sampled(self, function_name: str) -> bool:
        if self.sample_everything:
            return True
        second = int(time.time())
        with self._lock:
            if self._reservoir.get(function_name) != second:
                self._reservoir[function_name] = second
                return True
        return random.random() < FIXED_RATE

    @property
    def documents(self) -> list[dict[str, Any]]:
        """Every document received so far, in the order they came."""
        with self._lock:
            received = list(self._documents)
        return [json.loads(document) for document in received]

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """The documents received, once there are at least ``count`` (or ``timeout`` passed)."""
        with self._received:
            self._received.wait_for(lambda: len(self._documents) >= count, timeout)
        return self.documents

    def _receive(self) -> None:
        while True:
            try:
                datagram = self._socket.recv(65536)
            except OSError:
                return  # closed
            header, _, body = datagram.partition(b"\n")
            try:
                if json.loads(header).get("format") != "json" or not isinstance(json.loads(body), dict):
                    continue
            except ValueError:
                continue  # not an X-Ray document: the daemon drops it too
            with self._received:
                self._documents.append(body)
                self._received.notify_all()

    def close(self) -> None:
        self._socket.close()
