"""The one seam into moto's Lambda: run invocations in the local Lambda runtime instead of in Docker.

moto invokes every function (state-machine tasks, ``lambda.invoke``, S3 notifications) through the
private ``LambdaFunction._invoke_lambda(self, event) -> (payload_json, errored, logs)``. Replacing it
hands each invocation to :class:`revoice_local.stack.runtime.LambdaRuntime`, which runs it in an execution
environment of the function's built package; errors come back shaped as Lambda shapes them, so Step
Functions' Retry and Catch see the error type by name. A test guards this seam: if moto moves it, the
suite fails loudly instead of silently not running code.

S3 invokes Lambda asynchronously, and moto notifies before it has stored the object's metadata, so
invocations coming from moto's S3 notifications are handed over as asynchronous ones.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoice_local.stack.runtime import LambdaRuntime

SEAM = ("moto.awslambda.models", "LambdaFunction", "_invoke_lambda")
S3_NOTIFIER = "moto.s3.notifications"
S3_DELAY_SECONDS = 0.2  # moto notifies before it has stored the object
_runtime: list[LambdaRuntime] = []


def seam_target(seam: tuple[str, str, str] = SEAM) -> Any:
    module_name, class_name, method = seam
    cls = getattr(importlib.import_module(module_name), class_name)
    if not callable(getattr(cls, method, None)):
        raise RuntimeError(
            f"moto no longer has {module_name}.{class_name}.{method}: the local stack cannot run "
            "handlers; pin moto or move the seam"
        )
    return cls


def install(runtime: LambdaRuntime) -> None:
    """Send moto's invocations to ``runtime`` (one local stack at a time, as moto's backends are global)."""
    _runtime[:] = [runtime]
    seam_target()._invoke_lambda = _invoke


def uninstall(runtime: LambdaRuntime) -> None:
    if _runtime and _runtime[0] is runtime:
        _runtime.clear()


def _invoke(self: Any, event: Any = None) -> tuple[str, bool, str]:
    if not _runtime:
        body = {"errorType": "Runtime.Unavailable", "errorMessage": "the local stack is not running"}
        return json.dumps(body), True, ""
    payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
    if _called_by(S3_NOTIFIER):
        _runtime[0].invoke_async(self, payload, delay=S3_DELAY_SECONDS)
        return "", False, ""
    return _runtime[0].invoke(self, payload)


def _called_by(module: str) -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False
