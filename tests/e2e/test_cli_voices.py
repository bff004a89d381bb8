"""``revoice local`` and ``revoice voices`` as a user runs them: real processes, real output, exit codes."""

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
# A user's shell: none of the local stack's variables this test process may have set.
USER_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}


def revoice(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REVOICE, *args, "--local-state", str(state)], capture_output=True, text=True, timeout=120, env=USER_ENV
    )


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
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
    yield state
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert not state.exists()


def test_voices_list_shows_built_ins_and_says_whose_they_are(local_stack: Path) -> None:
    done = revoice("voices", "list", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["ID", "NAME", "KIND", "HELD", "BY", "IDLE", "(h)"]
    assert "builtin-rachel" in done.stdout
    rows = json.loads(revoice("voices", "list", "--json", state=local_stack).stdout)
    assert {row["kind"] for row in rows} == {"built-in"}


def test_voices_cleanup_dry_run_reports_and_changes_nothing(local_stack: Path) -> None:
    done = revoice("voices", "cleanup", "--dry-run", state=local_stack)
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing was changed" in done.stdout
    report = json.loads(revoice("voices", "cleanup", "--dry-run", "--json", state=local_stack).stdout)
    assert report["dry_run"] is True
    assert report["counts"]["deleted"] == 0


def test_without_a_local_stack_the_error_says_what_to_do(tmp_path: Path) -> None:
    done = revoice("voices", "list", state=tmp_path / "none.json")
    assert done.returncode == 1
    assert done.stderr.startswith("revoice: no local stack is running")
    assert "revoice local" in done.stderr
    assert "Traceback" not in done.stderr
