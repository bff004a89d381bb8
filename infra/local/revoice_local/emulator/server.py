"""Serve the emulator over real HTTP on loopback, in a background thread or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from revoice_local.emulator import rendering
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.emulator.middleware import QuietDrops
from revoice_local.emulator.org import Emulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089


class EmulatorServer:
    """``with EmulatorServer(config) as server: server.url`` -- an emulator on a free loopback port."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.emulator = Emulator(config)
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        if self.emulator.config.public_url is None:
            self.emulator.base_url = self.url
        logging.getLogger("uvicorn.error").addFilter(QuietDrops())
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.emulator.app,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_keep_alive=30,
                limit_concurrency=1000,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    def start(self) -> EmulatorServer:
        rendering.processes.warm()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="sync-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sync. labs emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()
        self.emulator.close()

    def serve_forever(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
