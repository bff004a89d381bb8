"""Where the local stack's S3 keeps objects: in files where the system lets the process open enough of
them, in memory (moto's own way) where it does not, so a long campaign never runs out of descriptors."""

from __future__ import annotations

import os
import resource

import pytest

from revoice_local.stack import moto_server

BUFFER = "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"


def _system(monkeypatch: pytest.MonkeyPatch, soft: int, hard: int, refuses_above: int) -> list[int]:
    """A process at ``soft``/``hard`` whose system refuses a soft limit above ``refuses_above``."""
    limits = [soft]

    def setrlimit(which: int, wanted: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE
        if wanted[0] > refuses_above:
            raise ValueError("current limit exceeds maximum limit")
        limits.append(wanted[0])

    monkeypatch.setattr(resource, "getrlimit", lambda which: (limits[-1], hard))
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    monkeypatch.delenv(BUFFER, raising=False)
    return limits


def test_a_system_that_allows_the_hard_limit_gets_it_and_large_objects_go_to_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = _system(monkeypatch, soft=1024, hard=524288, refuses_above=10**9)
    moto_server.keep_large_objects_on_disk()
    assert limits[-1] == moto_server.MOST_OPEN_FILES
    assert int(os.environ[BUFFER]) == moto_server.S3_IN_MEMORY_BYTES


def test_macos_refusing_an_unlimited_hard_limit_gets_the_most_it_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS: soft 256, hard unlimited, and no more than kern.maxfilesperproc (10,240 by default)."""
    limits = _system(monkeypatch, soft=256, hard=resource.RLIM_INFINITY, refuses_above=10240)
    moto_server.keep_large_objects_on_disk()
    assert limits[-1] == 8192  # halved from 65,536 until the system took it
    assert BUFFER in os.environ


def test_a_process_held_to_few_files_keeps_objects_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = _system(monkeypatch, soft=256, hard=1024, refuses_above=1024)
    moto_server.keep_large_objects_on_disk()
    assert limits[-1] == 1024
    assert BUFFER not in os.environ  # moto's 5 MB in memory: a campaign of 700 lines would not fit
