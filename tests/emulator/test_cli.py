"""``revoice emulator`` as a user runs it: a real process serving real HTTP until interrupted."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_emulator_command_serves_the_api_with_its_flags() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "revoice_local.cli",
            "emulator",
            "--port",
            str(port),
            "--api-key",
            "k-123",
            "--plan",
            "creator",
            "--fault",
            "server_error@GET /v2/voices x1:status=502",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = json.loads(process.stdout.readline()) if process.stdout else {}
        assert banner["url"] == f"http://127.0.0.1:{port}"
        assert banner["plan"] == "creator"
        assert "k-123" not in json.dumps(banner)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx.get(f"{base}/health").json() == {"ok": True}
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert httpx.get(f"{base}/v2/voices").status_code == 401
        assert httpx.get(f"{base}/v2/voices", headers={"x-api-key": "k-123"}).status_code == 502
        assert httpx.get(f"{base}/v2/voices", headers={"x-api-key": "k-123"}).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode in (0, 130)


def test_the_emulator_command_rejects_a_bad_fault_with_one_clear_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "revoice_local.cli", "emulator", "--fault", "meteor@*"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("revoice: ")
    assert "Traceback" not in done.stderr
