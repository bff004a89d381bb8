"""The command line as a user runs it: ``revoice local`` in its own process, other commands beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REVOICE = [sys.executable, "-m", "revoice_local.cli"]
# A user's shell: none of the variables an in-process local stack may have set in this test process.
USER_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}


def revoice(*args: str, state: Path, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REVOICE, *args, "--local-state", str(state)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=USER_ENV,
        cwd=cwd,
    )


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``revoice local`` running; yields the state file other commands read."""
    state = tmp_path_factory.mktemp("local") / "stack.json"
    process = subprocess.Popen(
        [*REVOICE, "local", "--json", "--local-state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=USER_ENV,
    )
    deadline = time.monotonic() + 60
    while not state.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert process.stdout is not None
    summary = json.loads(process.stdout.readline())
    assert summary["console"].startswith(f"{summary['api']}/console#token=")  # the console, signed in
    yield state
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert not state.exists()
