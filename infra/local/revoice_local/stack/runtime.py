"""Lambda, locally: each function runs from its built package in its own execution environments.

An execution environment is a worker process of the runtime's Python (``-I -S -B``: nothing from this
machine's site-packages, no bytecode written) started by ``worker_bootstrap.py``, in which Lambda's own
runtime interface client (``awslambdaric``) imports the handler and polls a Runtime API that this module
serves on loopback, one per environment. The environment sees only its function's configuration as
moto holds it (the template's variables, ``Timeout``, ``MemorySize``, handler) plus what Lambda itself
sets (``AWS_LAMBDA_*``, ``LAMBDA_TASK_ROOT``, the role's credentials), and the local endpoint.

As on Lambda: a warm environment is reused, concurrent invocations get environments of their own, a
changed configuration gets new ones; an invocation that runs past ``Timeout`` is stopped (the
environment is discarded) and answers ``Sandbox.Timedout``; an environment that outgrows ``MemorySize``
is killed (``Runtime.OutOfMemory``); a handler that cannot be imported answers
``Runtime.ImportModuleError``; responses over 6 MB are refused. Asynchronous invocations (S3 events,
EventBridge targets) are retried twice on error, then kept as dead letters.

The Runtime API is written here rather than taken from the Runtime Interface Emulator, which is a Go
binary shipped in container images, not something a machine without Docker can install.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from revoice_local.package import Interpreter

BOOTSTRAP = Path(__file__).with_name("worker_bootstrap.py")
API_PREFIX = "/2018-06-01/runtime"
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit on a function's init phase
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
ASYNC_RETRIES = 2
# Busy environments per function at once. Lambda would start one per concurrent call, each on a CPU of its
# own; on a laptop's few cores that many cold starts at once only slow each other down, so calls wait for
# a free environment (as Lambda queues an asynchronous call it cannot run yet), the oldest job's first.
MAX_ENVIRONMENTS = max(2, os.cpu_count() or 1)
log = logging.getLogger(__name__)

Credentials = dict[str, str]


@dataclass(frozen=True)
class FunctionConfig:
    """What moto holds of a function, as far as its execution environments are concerned."""

    name: str
    arn: str
    logical_id: str
    handler: str
    timeout: int
    memory: int
    role: str
    environment: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, function: Any, logical_id: str) -> FunctionConfig:
        return cls(
            name=str(function.function_name),
            arn=str(function.function_arn),
            logical_id=logical_id,
            handler=str(function.handler),
            timeout=int(function.timeout),
            memory=int(function.memory_size),
            role=str(function.role),
            environment=tuple(sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())),
        )


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


@dataclass
class _Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    function_arn: str
    done: threading.Event = field(default_factory=threading.Event)
    response: bytes | None = None
    error: dict[str, Any] | None = None


class _RuntimeApi(ThreadingHTTPServer):
    """Lambda's Runtime API for one execution environment (``AWS_LAMBDA_RUNTIME_API``)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A worker killed mid-request (a timeout, the stack stopping) is not an error of the API."""

    def __init__(self, environment: ExecutionEnvironment) -> None:
        self.environment = environment
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RuntimeApi

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._answer(404, {"errorMessage": f"no route {self.path}"})
            return
        invocation = self.server.environment.next_invocation()
        if invocation is None:  # the environment is shutting down
            self._answer(410, {"errorMessage": "the environment is shutting down"})
            return
        self.send_response(200)
        for name, value in (
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(invocation.event))),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(invocation.event)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        environment = self.server.environment
        parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
        if self.path.startswith("/_local/faults/"):
            self._answer(200, {"fire": environment.runtime.fault_fires(self.path.rsplit("/", 1)[-1])})
        elif parts == ["init", "error"]:
            environment.init_failed(_json_or_message(body))
            self._answer(202, {"status": "OK"})
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if parts[2] == "response":
                environment.responded(parts[1], body, None)
            else:
                environment.responded(parts[1], None, _json_or_message(body))
            self._answer(202, {"status": "OK"})
        else:
            self._answer(404, {"errorMessage": f"no route {self.path}"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


def _json_or_message(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"errorMessage": body.decode(errors="replace"), "errorType": "Runtime.Unknown"}
    return parsed if isinstance(parsed, dict) else {"errorMessage": str(parsed), "errorType": "Runtime.Unknown"}


class ExecutionEnvironment:
    """One worker process serving one function, one invocation at a time."""

    def __init__(self, runtime: LambdaRuntime, config: FunctionConfig, package: Path) -> None:
        self.runtime = runtime
        self.config = config
        self.package = package
        self.fault_generation = runtime.fault_generation
        self._api = _RuntimeApi(self)
        self._pending: list[_Invocation] = []
        self._current: _Invocation | None = None
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._closing = False
        self.init_error: dict[str, Any] | None = None
        self.log = logging.getLogger(f"revoice.lambda.{config.logical_id}")
        self.log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        threading.Thread(
            target=self._api.serve_forever, args=(0.05,), name=f"runtime-api-{config.logical_id}", daemon=True
        ).start()
        started = time.monotonic()
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and bootstrap
            [
                runtime.python.path,
                "-I",
                "-S",
                "-B",
                str(BOOTSTRAP),
                str(runtime.runtime_dir),
                str(package),
                config.handler,
                json.dumps([fault.wire() for fault in runtime.faults_for(config.logical_id)]),
            ],
            cwd=package,
            env=self._environment(package),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._spawned = started
        threading.Thread(target=self._forward_logs, name=f"logs-{config.logical_id}", daemon=True).start()

    def _environment(self, package: Path) -> dict[str, str]:
        config, runtime = self.config, self.runtime
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            **dict(config.environment),
            **runtime.credentials(config.role, config.name),
            "AWS_ENDPOINT_URL": runtime.aws_endpoint,  # the one local addition: where "AWS" is
            "AWS_REGION": runtime.region,
            "AWS_DEFAULT_REGION": runtime.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.python.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_RUNTIME_API": self._api.address,
            "LAMBDA_TASK_ROOT": str(package),
            "LAMBDA_RUNTIME_DIR": str(runtime.runtime_dir),
            "_HANDLER": config.handler,
        }

    # -- the Runtime API's side --------------------------------------------------------------------

    def next_invocation(self) -> _Invocation | None:
        self._ready.set()
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            if self._closing:
                return None
            self._current = self._pending.pop(0)
            return self._current

    def responded(self, request_id: str, response: bytes | None, error: dict[str, Any] | None) -> None:
        current = self._current
        if current is None or current.request_id != request_id:
            return  # a late answer for an invocation that was already given up on
        current.response, current.error = response, error
        current.done.set()

    def init_failed(self, error: dict[str, Any]) -> None:
        self.init_error = error
        self._ready.set()

    # -- the invoker's side ------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return self.init_error is None and self._process.poll() is None

    def wait_ready(self, seconds: float) -> bool:
        return self._ready.wait(seconds) and self.init_error is None

    def invoke(self, event: bytes) -> tuple[bytes, dict[str, Any] | None]:
        """Run one invocation; (payload, error document or None).

        Init has ten seconds of its own, as on Lambda; an init that takes longer goes on within the
        invocation's ``Timeout``.
        """
        request_id = str(uuid.uuid4())
        timeout = self.config.timeout
        started = time.monotonic()
        init_deadline = max(self._spawned + INIT_TIMEOUT_SECONDS, started + timeout)
        if not self._ready.wait(max(0.0, init_deadline - started)) or self.init_error is not None:
            self.close()
            failed = self.init_error or _runtime_error(request_id, "Sandbox.Timedout", "init did not finish in time")
            return json.dumps(failed).encode(), failed
        ready_at = time.monotonic()
        deadline = (started if ready_at > self._spawned + INIT_TIMEOUT_SECONDS else ready_at) + timeout
        invocation = _Invocation(
            request_id, event, int((time.time() + deadline - time.monotonic()) * 1000), self.config.arn
        )
        self.log.info("START RequestId: %s Version: $LATEST", request_id)
        with self._cond:
            self._pending.append(invocation)
            self._cond.notify_all()
        error: dict[str, Any] | None
        while not invocation.done.wait(0.05):
            if time.monotonic() > deadline:
                self.close()
                error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                }
                break
            if self._process.poll() is not None:
                error = _runtime_error(
                    request_id,
                    "Runtime.ExitError",
                    f"Runtime exited with error: exit status {self._process.returncode}",
                )
                break
        else:
            error = invocation.error
        self._current = None
        used_mb = self.max_memory_mb()
        if error is None and used_mb > self.config.memory:
            self.close()
            error = _runtime_error(request_id, "Runtime.OutOfMemory", "Runtime exited with error: signal: killed")
        payload = invocation.response or b""
        if error is None and len(payload) > MAX_RESPONSE_BYTES:
            error = {
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES}"
                " bytes).",
            }
        duration = (time.monotonic() - started) * 1000
        self.log.info("END RequestId: %s", request_id)
        self.log.info(
            "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t"
            "Max Memory Used: %d MB",
            request_id,
            duration,
            int(duration) + 1,
            self.config.memory,
            used_mb,
        )
        return (json.dumps(error).encode() if error is not None else payload), error

    def max_memory_mb(self) -> int:
        """The environment's peak resident memory (what Lambda reports as Max Memory Used)."""
        with suppress(OSError), open(f"/proc/{self._process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
        return 0

    def close(self) -> None:
        if self._process.poll() is None:  # first, so that the runtime never hears its next poll refused
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._api.shutdown()
        self._api.server_close()

    def _forward_logs(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.log.log(_level(line), "%s", line)


def _level(line: str) -> int:
    if line.startswith("{"):
        with suppress(ValueError, AttributeError):
            return logging.getLevelName(str(json.loads(line).get("level", "INFO")).upper())  # type: ignore[no-any-return]
    return logging.ERROR if line.startswith(("[ERROR]", "Traceback")) else logging.INFO


def _runtime_error(request_id: str, error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}


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
    ) -> None:
        self.python, self.packages, self.runtime_dir = python, packages, runtime_dir
        self.aws_endpoint, self.region, self.credentials = aws_endpoint, region, credentials
        self.logical_ids = logical_ids  # function name -> the template's logical id (its package folder)
        self.invocations = Invocations()
        self.fault_generation = 0
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

    def _take(self, config: FunctionConfig) -> ExecutionEnvironment:
        with self._lock:
            outdated = [c for c in self._idle if c.name == config.name and c != config]
            retired = [environment for c in outdated for environment in self._idle.pop(c)]
        for environment in retired:  # the function's configuration changed: its old environments go
            environment.close()
        with self._lock:
            idle = self._idle.get(config, [])
            while idle:
                environment = idle.pop()
                if environment.usable and environment.fault_generation == self.fault_generation:
                    self._busy.add(environment)
                    return environment
                environment.close()
        self.invocations.cold_starts[config.name] += 1
        environment = ExecutionEnvironment(self, config, self.packages / config.logical_id)
        with self._lock:
            self._busy.add(environment)
        return environment

    def _give_back(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            self._busy.discard(environment)
            keep = not self._stopped and environment.usable and environment.fault_generation == self.fault_generation
            if keep:
                self._idle.setdefault(environment.config, []).append(environment)
        if not keep:
            environment.close()

    def prewarm(self, functions: list[Any]) -> None:
        """Start one environment per function ahead of the first invocation (like provisioned concurrency)."""
        threads = [
            threading.Thread(target=self._warm, args=(function,), daemon=True, name="prewarm") for function in functions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _warm(self, function: Any) -> None:
        config = FunctionConfig.of(function, self.logical_ids.get(str(function.function_name), ""))
        environment = self._take(config)
        environment.wait_ready(INIT_TIMEOUT_SECONDS)
        self._give_back(environment)

    # -- faults (local only) -------------------------------------------------------------------------

    def inject(self, fault: WorkerFault, functions: set[str] | None = None) -> WorkerFault:
        """Wrap a method in new environments of ``functions`` (logical ids; all when None)."""
        with self._lock:
            self._faults[fault.id] = (fault, functions)
            self.fault_generation += 1
        self._retire_idle()
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            had = bool(self._faults)
            self._faults.clear()
            self.fault_generation += int(had)
        if had:
            self._retire_idle()

    def faults_for(self, logical_id: str) -> list[WorkerFault]:
        return [f for f, only in self._faults.values() if only is None or logical_id in only]

    def fault_fires(self, fault_id: str) -> bool:
        with self._lock:
            entry = self._faults.get(fault_id)
            if entry is None or entry[0].fired >= entry[0].times:
                return False
            entry[0].fired += 1
            return True

    def _retire_idle(self) -> None:
        with self._lock:
            idle = [environment for environments in self._idle.values() for environment in environments]
            self._idle.clear()
        for environment in idle:
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
