"""The emulator's lip-sync renders, in processes of their own.

A rendered output (decode the target, draw the mouth, encode H.264 and AAC) costs about 0.2 s of CPU.
Run in a thread of the local stack's main process, beside moto, the state machine interpreter and the
emulator's event loop, it competed with all of them for one interpreter lock: in a 60-job batch the
renders took a fifth of that process's CPU, and where one overran the generation's configured time it
stretched the emulator's T (2.7-4.8 s measured for a configured 2.0 s). Spawned processes render on the
other core instead; they are shared by every emulator in the process and started once.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from revoice_local import media

MAX_RENDER_PROCESSES = 2  # the machine's two cores; a render is short beside a generation's time


@functools.cache
def _pool() -> ProcessPoolExecutor:
    # spawn, not fork: the main process runs many threads, and a forked child inherits their locks
    return ProcessPoolExecutor(
        max_workers=min(MAX_RENDER_PROCESSES, os.cpu_count() or 1), mp_context=multiprocessing.get_context("spawn")
    )


def warm() -> None:
    """Start a render process now, so that the first generation does not wait for one to load FFmpeg."""
    _pool().submit(media.probe, Path(os.devnull))


def lipsync(target: Path, audio: Path, out: Path, sync_mode: str) -> float:
    """``media.render_lipsync`` in a render process; a pool whose process died is started again once."""
    try:
        return _pool().submit(media.render_lipsync, target, audio, out, sync_mode).result()
    except BrokenProcessPool:
        _pool.cache_clear()
        return _pool().submit(media.render_lipsync, target, audio, out, sync_mode).result()
