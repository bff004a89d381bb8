"""Lambda, locally: each function runs from its built package in its own execution environments.

An execution environment (``environment.py``) is a worker process in which Lambda's own runtime
interface client loads the handler from the function's built package; this module keeps each function's
environments, hands them invocations, and injects faults.

As on Lambda: a warm environment is reused, concurrent invocations get environments of their own, a
changed configuration gets new ones; an invocation that runs past ``Timeout`` is stopped (the
environment is discarded) and answers ``Sandbox.Timedout``; an environment that outgrows ``MemorySize``
is killed (``Runtime.OutOfMemory``); a handler that cannot be imported answers
``Runtime.ImportModuleError``; responses over 6 MB are refused. Asynchronous invocations (S3 events,
EventBridge targets) are retried twice on error, then kept as dead letters.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from revoice_local.package import Interpreter
from revoice_local.stack.environment import INIT_TIMEOUT_SECONDS, ExecutionEnvironment, FunctionConfig
from revoice_local.stack.xray import XRayDaemon

ASYNC_RETRIES = 2
# Busy environments per function at once. Lambda would start one per concurrent call, each on a CPU of its
# own; on a laptop's few cores that many cold starts at once only slow each other down, so calls wait for
# a free environment (as Lambda queues an asynchronous call it cannot run yet), the oldest job's first.
MAX_ENVIRONMENTS = max(2, os.cpu_count() or 1)
log = logging.getLogger(__name__)

Credentials = dict[str, str]


@dataclass
class WorkerFault:
    """A method of the package that crashes after a call, fails instead of it, or stalls before it
    (``times`` calls in all)."""

    target: str  # "revoice.sync.client:SyncClient.upload"
    kind: Literal["crash_after", "fail", "stall"]
    times: int
    seconds: float = 0.0
    matching: str | None = None  # only calls whose arguments mention this (a job's key, say)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    fired: int = 0

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "kind": self.kind,
            "seconds": self.seconds,
            "matching": self.matching,
        }


@dataclass
class Invocations:
    """What ran, for tests and benchmarks: a count per function, errors by type, cold starts."""

    by_function: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    cold_starts: Counter[str] = field(default_factory=Counter)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[Callable[[str, Any], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, function_name: str, error: str | None) -> None:
        with self.lock:
            self.by_function[function_name] += 1
            if error:
                self.errors[error] += 1


class LambdaRuntime:
    """The execution environments of a stack's functions, and the invocations moto hands them."""

    def __init__(
        self,
        *,
        python: Interpreter,
        packages: Path,
        runtime_dir: Path,
        aws_endpoint: str,
        region: str,
        credentials: Callable[[str, str], Credentials],
        logical_ids: dict[str, str],
        xray: XRayDaemon,
    ) -> None:
        self.python, self.packages, self.runtime_dir = python, packages, runtime_dir
        self.aws_endpoint, self.region, self.credentials = aws_endpoint, region, credentials
        self.logical_ids = logical_ids  # function name -> the template's logical id (its package folder)
        self.xray = xray
        self.invocations = Invocations()
        self._faults: dict[str, tuple[WorkerFault, set[str] | None]] = {}
        self._idle: dict[FunctionConfig, list[ExecutionEnvironment]] = {}
        self._busy: set[ExecutionEnvironment] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._capacity: dict[str, _Gate] = {}

    # -- invoking --------------------------------------------------------------------------------

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        """Run an invocation of moto's ``function``: (payload, errored, logs), as moto's seam returns."""
        config = FunctionConfig.of(function, self.logical_ids.get(str(function.function_name), ""))
        payload = event if isinstance(event, bytes) else json.dumps(event if event is not None else {}).encode()
        decoded = json.loads(payload)
        for hook in list(self.invocations.hooks):
            hook(config.name, decoded)
        with self._environment(config, _priority(decoded)) as environment:
            answer, error = environment.invoke(payload)
        self.invocations.count(config.name, None if error is None else str(error.get("errorType", "Unknown")))
        return answer.decode(), error is not None, ""

    def invoke_async(self, function: Any, event: Any, delay: float = 0.0) -> None:
        """An asynchronous invocation: retried twice on error, then kept as a dead letter (and logged)."""

        def run() -> None:
            time.sleep(delay)
            for attempt in range(ASYNC_RETRIES + 1):
                if self._stopped:
                    return
                answer, errored, _ = self.invoke(function, event)
                if not errored:
                    return
                time.sleep(min(1.0 * 2**attempt, 4.0))  # Lambda waits a minute, then two; locally seconds
            letter = {"function": str(function.function_name), "event": event, "error": json.loads(answer)}
            self.invocations.dead_letters.append(letter)
            log.error("asynchronous invocation of %s failed for good: %s", function.function_name, answer)

        threading.Thread(target=run, name=f"async-{function.function_name}", daemon=True).start()

    @contextmanager
    def _environment(self, config: FunctionConfig, priority: str = "") -> Iterator[ExecutionEnvironment]:
        with self._lock:
            gate = self._capacity.setdefault(config.name, _Gate(MAX_ENVIRONMENTS))
        gate.enter(priority)
        try:
            environment = self._take(config)
            try:
                yield environment
            finally:
                self._give_back(environment)
        finally:
            gate.leave()

    def _take(self, config: FunctionConfig, *, provisioned: bool = False) -> ExecutionEnvironment:
        """A warm environment of ``config``, or a new one; always a new one when ``provisioned``."""
        with self._lock:
            outdated = [c for c in self._idle if c.name == config.name and c != config]
            retired = [environment for c in outdated for environment in self._idle.pop(c)]
        for environment in retired:  # the function's configuration changed: its old environments go
            environment.close()
        with self._lock:
            idle = [] if provisioned else self._idle.get(config, [])
            while idle:
                environment = idle.pop()
                if environment.usable and self._current(environment):
                    self._busy.add(environment)
                    return environment
                environment.close()
        self.invocations.cold_starts[config.name] += 1
        environment = ExecutionEnvironment(self, config, self.packages / config.logical_id, provisioned=provisioned)
        with self._lock:
            self._busy.add(environment)
        return environment

    def _give_back(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            self._busy.discard(environment)
            keep = not self._stopped and environment.usable and self._current(environment)
            if keep:
                self._idle.setdefault(environment.config, []).append(environment)
        if not keep:
            environment.close()

    def prewarm(self, functions: list[Any]) -> None:
        """Start an environment per function ahead of the invocations, as provisioned concurrency does
        (its ``AWS_LAMBDA_INITIALIZATION_TYPE`` says so, and the handlers make their clients in it)."""
        threads = [
            threading.Thread(target=self._warm, args=(function,), daemon=True, name="prewarm") for function in functions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _warm(self, function: Any) -> None:
        config = FunctionConfig.of(function, self.logical_ids.get(str(function.function_name), ""))
        environment = self._take(config, provisioned=True)
        environment.wait_ready(INIT_TIMEOUT_SECONDS)
        self._give_back(environment)

    # -- faults (local only) -------------------------------------------------------------------------

    def inject(self, fault: WorkerFault, functions: set[str] | None = None) -> WorkerFault:
        """Wrap a method in new environments of ``functions`` (logical ids; all when None)."""
        with self._lock:
            self._faults[fault.id] = (fault, functions)
        self._retire_outdated()
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self._retire_outdated()

    def faults_for(self, logical_id: str) -> list[WorkerFault]:
        return [f for f, only in self._faults.values() if only is None or logical_id in only]

    def _current(self, environment: ExecutionEnvironment) -> bool:
        """Started with exactly the faults its function has now: a fault retires only the environments of
        the functions it names, and clearing it only those that carry it."""
        return environment.faults == {fault.id for fault in self.faults_for(environment.config.logical_id)}

    def fault_fires(self, fault_id: str) -> bool:
        with self._lock:
            entry = self._faults.get(fault_id)
            if entry is None or entry[0].fired >= entry[0].times:
                return False
            entry[0].fired += 1
            return True

    def _retire_outdated(self) -> None:
        with self._lock:
            outdated = [e for environments in self._idle.values() for e in environments if not self._current(e)]
            for config, environments in self._idle.items():
                self._idle[config] = [e for e in environments if e not in outdated]
        for environment in outdated:
            environment.close()

    # -- lifecycle -------------------------------------------------------------------------------

    def environments(self) -> Iterator[ExecutionEnvironment]:
        with self._lock:
            every = [e for environments in self._idle.values() for e in environments] + list(self._busy)
        yield from every

    def stop(self) -> None:
        self._stopped = True
        closing = [threading.Thread(target=e.close, daemon=True) for e in self.environments()]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        with self._lock:
            self._idle.clear()
            self._busy.clear()


class _Gate:
    """At most ``capacity`` callers inside; the others wait in order of ``priority``, then of arrival."""

    def __init__(self, capacity: int) -> None:
        self._capacity, self._inside = capacity, 0
        self._waiting: list[tuple[str, int, threading.Event]] = []
        self._lock = threading.Lock()
        self._arrivals = itertools.count()

    def enter(self, priority: str) -> None:
        with self._lock:
            if self._inside < self._capacity and not self._waiting:
                self._inside += 1
                return
            turn = threading.Event()
            heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
        turn.wait()

    def leave(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[2].set()  # the place passes on; the count inside stays
            else:
                self._inside -= 1


def _priority(event: Any) -> str:
    """The job's arrival (``receivedAt``), so that the oldest job's steps go first; now for other calls."""
    state = event.get("state", event) if isinstance(event, dict) else {}
    received = state.get("job", {}).get("receivedAt") if isinstance(state, dict) else None
    return str(received) if received else time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime())
