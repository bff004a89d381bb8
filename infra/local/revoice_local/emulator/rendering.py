"""The emulator's lip-sync renders, in processes of their own.

A rendered output (decode the target, draw the mouth, encode H.264 and AAC) costs about 0.2 s of CPU.
Run in a thread of the local stack's main process, beside moto, the state machine interpreter and the
emulator's event loop, it competed with all of them for one interpreter lock: in a 60-job batch the
renders took a fifth of that process's CPU, and where one overran the generation's configured time it
stretched the emulator's T (2.6-4.8 s measured for a configured 2.0 s). Render processes work on the
other core instead; they are shared by every emulator in the process and started once.

They are plain subprocesses (``python -m revoice_local.emulator.rendering``, one JSON line per render
each way), not a multiprocessing pool: a spawned pool child imports the parent's main script again, and
a script that drives the local stack without an ``if __name__ == "__main__"`` guard would start a
second stack in every child.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from revoice_local import media

MAX_RENDER_PROCESSES = 2  # the machine's two cores; a render is short beside a generation's time


class RenderFailed(RuntimeError):
    """The render process could not render these inputs (its message says why)."""


class _RenderProcess:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "revoice_local.emulator.rendering"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)},
        )

    def render(self, target: Path, audio: Path, out: Path, sync_mode: str) -> float:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        request = {"target": str(target), "audio": str(audio), "out": str(out), "sync_mode": sync_mode}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise BrokenPipeError("the render process ended")
        done = json.loads(answer)
        if "error" in done:
            raise RenderFailed(done["error"])
        return float(done["duration"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # the process ends at the end of its input
        self._process.wait(timeout=10)

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()


class RenderProcesses:
    """Up to ``size`` render processes, each serving one render at a time, started when first needed."""

    def __init__(self, size: int = MAX_RENDER_PROCESSES) -> None:
        self._idle: queue.LifoQueue[_RenderProcess | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)  # a place for a process not started yet
        self._all: list[_RenderProcess] = []
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start a render process now, so that the first generation does not wait for one to load FFmpeg
        (nothing to do when every place is rendering already)."""
        try:
            process = self._idle.get_nowait()
        except queue.Empty:
            return
        self._idle.put(process or self._started())

    def lipsync(self, target: Path, audio: Path, out: Path, sync_mode: str) -> float:
        """``media.render_lipsync`` in a render process; one that died is replaced and asked once more."""
        process = self._idle.get() or self._started()
        try:
            return process.render(target, audio, out, sync_mode)
        except (BrokenPipeError, ValueError):  # it died, or answered something that is not an answer
            self._forget(process)
            process = self._started()
            return process.render(target, audio, out, sync_mode)
        finally:
            self._idle.put(process)

    def close(self) -> None:
        with self._lock:
            started, self._all = self._all, []
        for process in started:
            process.close()

    def _started(self) -> _RenderProcess:
        process = _RenderProcess()
        with self._lock:
            self._all.append(process)
        return process

    def _forget(self, process: _RenderProcess) -> None:
        with self._lock:
            if process in self._all:
                self._all.remove(process)
        process.kill()


processes = RenderProcesses()
atexit.register(processes.close)


def _serve(requests: IO[str], answers: IO[str]) -> None:
    for line in requests:
        request = json.loads(line)
        try:
            duration = media.render_lipsync(
                Path(request["target"]), Path(request["audio"]), Path(request["out"]), request["sync_mode"]
            )
            answers.write(json.dumps({"duration": duration}) + "\n")
        except Exception as exc:  # the inputs' problem, answered to the emulator, which fails the generation
            answers.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        answers.flush()


if __name__ == "__main__":
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever else writes to stdout cannot garble an answer
    _serve(sys.stdin, answers)
