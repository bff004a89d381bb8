"""The start of one local Lambda execution environment, run as ``python3.12 -I -S -B worker_bootstrap.py``.

It is to the local stack what ``/var/runtime/bootstrap`` is to Lambda: it puts the function's package
(``/var/task``) and the runtime's own libraries (boto3 and Lambda's runtime interface client) on
``sys.path``, and hands over to ``awslambdaric``, which imports the handler and polls the Runtime API.
``-I -S`` keeps this machine's site-packages, ``PYTHONPATH`` and user site out; ``-B`` writes no
bytecode, as on Lambda's read-only file system. Only the standard library is used here, and nothing
from the development environment.

Arguments: ``RUNTIME_DIR TASK_ROOT HANDLER FAULTS_JSON``. Faults (a local-stack test feature that Lambda
does not have) wrap a method of the package so that it crashes after, or stalls before, a call; whether a
call fires is asked of the local runtime, which keeps one budget across every environment.
"""

import http.client
import importlib
import json
import os
import sys
import time
from typing import Any


def _should_fire(fault_id: str) -> bool:
    connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=10)
    connection.request("POST", f"/_local/faults/{fault_id}")
    answer = json.loads(connection.getresponse().read() or b"{}")
    connection.close()
    return bool(answer.get("fire"))


def _install(fault: dict[str, Any]) -> None:
    module_name, _, attribute = fault["target"].partition(":")
    owner_name, _, method = attribute.rpartition(".")
    owner = importlib.import_module(module_name)
    for part in owner_name.split(".") if owner_name else []:
        owner = getattr(owner, part)
    original = getattr(owner, method)

    def faulty(*args: Any, **kwargs: Any) -> Any:
        if fault["matching"] and fault["matching"] not in repr((args, kwargs)):
            return original(*args, **kwargs)
        if fault["kind"] == "stall" and _should_fire(fault["id"]):
            time.sleep(fault["seconds"])
        if fault["kind"] == "fail" and _should_fire(fault["id"]):
            raise RuntimeError(f"simulated failure of {method}")
        answer = original(*args, **kwargs)
        if fault["kind"] == "crash_after" and _should_fire(fault["id"]):
            raise RuntimeError(f"simulated crash after {method}")
        return answer

    setattr(owner, method, faulty)


def main() -> None:
    runtime_dir, task_root, handler, faults = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    sys.path[:0] = [task_root, runtime_dir]
    os.chdir(task_root)
    for fault in faults:
        _install(fault)
    from awslambdaric.__main__ import main as run_runtime_interface_client  # type: ignore[import-not-found]

    run_runtime_interface_client([sys.argv[0], handler])


if __name__ == "__main__":
    main()
