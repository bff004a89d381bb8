"""One execution environment of a function: a worker process of the runtime's Python (``-I -S -B``: nothing
from this machine's site-packages, no bytecode written) started by ``worker_bootstrap.py``, in which
Lambda's own runtime interface client (``awslambdaric``) imports the handler and polls the Runtime API
served here on loopback. It sees only its function's configuration as moto holds it (the template's
variables, ``Timeout``, ``MemorySize``, handler, tracing) plus what Lambda itself sets (``AWS_LAMBDA_*``,
``LAMBDA_TASK_ROOT``, the role's credentials, the X-Ray daemon's address), and the local endpoint.

The Runtime API is written here rather than taken from the Runtime Interface Emulator, which is a Go
binary shipped in container images, not something a machine without Docker can install.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoice_local.stack.runtime import LambdaRuntime

BOOTSTRAP = Path(__file__).with_name("worker_bootstrap.py")
API_PREFIX = "/2018-06-01/runtime"
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit on a function's init phase
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


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
    traced: bool  # TracingConfig Mode Active: Lambda samples its invocations for X-Ray

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
            traced=(function.tracing_config or {}).get("Mode") == "Active",
        )


@dataclass
class _Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    function_arn: str
    trace_header: str
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
            ("Lambda-Runtime-Trace-Id", invocation.trace_header),
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

    def __init__(
        self, runtime: LambdaRuntime, config: FunctionConfig, package: Path, *, provisioned: bool = False
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.package = package
        self.provisioned = provisioned  # started ahead of any invocation, as provisioned concurrency is
        faults = runtime.faults_for(config.logical_id)
        self.faults = frozenset(fault.id for fault in faults)  # what it was started with (see LambdaRuntime._current)
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
                json.dumps([fault.wire() for fault in faults]),
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
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if self.provisioned else "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_RUNTIME_API": self._api.address,
            "LAMBDA_TASK_ROOT": str(package),
            "LAMBDA_RUNTIME_DIR": str(runtime.runtime_dir),
            "_HANDLER": config.handler,
            **(runtime.xray.environment() if config.traced else {}),
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
    def pid(self) -> int:
        return int(self._process.pid)

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
            request_id,
            event,
            int((time.time() + deadline - time.monotonic()) * 1000),
            self.config.arn,
            self.runtime.xray.trace_header(self.config.name, self.config.traced),
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
