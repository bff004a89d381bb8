"""The one seam into moto: run Lambda handlers in this process instead of in Docker.

moto invokes every function (state-machine tasks, ``lambda.invoke``, S3 notifications) through the
private ``LambdaFunction._invoke_lambda(self, event) -> (payload_json, errored, logs)``. Replacing it
with an in-process call runs the real handlers with the real events; errors come back shaped as the
Lambda runtime shapes them, so Step Functions' Retry and Catch see the exception class by name.
A test guards this seam: if moto moves it, the suite fails loudly instead of silently not running code.

S3 invokes Lambda asynchronously in AWS, and moto notifies before it has stored the object's metadata,
so invocations coming from moto's S3 notifications run on a thread shortly after the upload returns.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SEAM = ("moto.awslambda.models", "LambdaFunction", "_invoke_lambda")
S3_NOTIFIER = "moto.s3.notifications"
ASYNC_DELAY_SECONDS = 0.2


@dataclass
class LocalContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Invocations:
    """What ran, for tests and benchmarks: a count per function, and the errors by type."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_function: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.hooks: list[Any] = []

    def count(self, function_name: str, error: str | None) -> None:
        with self.lock:
            self.by_function[function_name] += 1
            if error:
                self.errors[error] += 1


INVOCATIONS = Invocations()


def seam_target(seam: tuple[str, str, str] = SEAM) -> Any:
    module_name, class_name, method = seam
    cls = getattr(importlib.import_module(module_name), class_name)
    if not callable(getattr(cls, method, None)):
        raise RuntimeError(
            f"moto no longer has {module_name}.{class_name}.{method}: the local stack cannot run "
            "handlers in-process; pin moto or move the seam"
        )
    return cls


def install() -> None:
    seam_target()._invoke_lambda = _invoke_in_process


def _invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
    payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
    if _called_by(S3_NOTIFIER):
        timer = threading.Timer(ASYNC_DELAY_SECONDS, _run, args=(self, payload))
        timer.daemon = True
        timer.start()
        return "", False, ""
    return _run(self, payload)


def _called_by(module: str) -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _run(self: Any, payload: Any) -> tuple[str, bool, str]:
    module_name, _, attribute = self.handler.rpartition(".")
    context = LocalContext(self.function_name, self.function_arn, int(self.memory_size), int(self.timeout))
    for hook in list(INVOCATIONS.hooks):
        hook(self.function_name, payload)
    try:
        function = getattr(importlib.import_module(module_name), attribute)
        result = function(payload, context)
    except Exception as exc:
        INVOCATIONS.count(self.function_name, type(exc).__name__)
        body = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(body), True, ""
    INVOCATIONS.count(self.function_name, None)
    return json.dumps(result), False, ""
