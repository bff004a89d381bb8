"""Cold start: import time of each handler from its built package, in a clean interpreter of the runtime's
Python (``-I -S -B``, as the local stack's execution environments run it), with and without the bytecode
``make build`` ships, beside a bare ``import boto3`` from the runtime's own libraries measured the same way
and in turn with it.

.venv/bin/python -m tests.bench.cold_start
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from revoice_local import package
from revoice_local.stack.template import plan

RUNS = 7


def _import_us(python: str, module: str, path: list[Path], environment: dict[str, str]) -> int:
    """Cumulative import time (``-X importtime``) of ``module`` in one clean interpreter with the function's
    own environment (a handler validates its settings at import), in microseconds."""
    setup = f"import sys; sys.path[:0] = {[str(p) for p in path]!r}; import {module}"
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-X", "importtime", "-c", setup],
        capture_output=True,
        text=True,
        check=True,
        cwd=path[0],
        env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", **environment},
    )
    last = [line for line in done.stderr.splitlines() if line.rstrip().endswith(f" {module}")][-1]
    return int(last.split("|")[1])


def paired_ms(module: str, path: list[Path], environment: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    """Median import times of ``module`` and of ``boto3`` (same path), in milliseconds, measured in turn
    so that a machine busier for a while slows both: the ratio is what is compared."""
    python = package.lambda_python().path
    module_us, boto3_us = [], []
    for _ in range(runs):
        module_us.append(_import_us(python, module, path, environment))
        boto3_us.append(_import_us(python, "boto3", path, environment))
    return round(statistics.median(module_us) / 1000, 1), round(statistics.median(boto3_us) / 1000, 1)


def measure() -> list[dict[str, Any]]:
    runtime = package.runtime_dir()
    built = package.local_build() / "ApiFunction"  # every function's package is the same code
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "package"
        shutil.copytree(built, bare, ignore=shutil.ignore_patterns("__pycache__"))
        functions = plan({"SyncApiKey": "k", "ApiToken": "t" * 16}).functions
        for function in functions.values():
            module = function.handler.rsplit(".", 1)[0]
            environment = {name: str(value) for name, value in function.environment.items()}
            shipped, baseline = paired_ms(module, [built, runtime], environment)
            compiled_each_time, baseline_beside = paired_ms(module, [bare, runtime], environment)
            rows.append(
                {
                    "module": module,
                    "ms": shipped,
                    "ratio": round(shipped / baseline, 2),
                    "ms_without_bytecode": compiled_each_time,
                    "ratio_without_bytecode": round(compiled_each_time / baseline_beside, 2),
                    "baseline": baseline,
                }
            )
    return rows


if __name__ == "__main__":
    for row in measure():
        print(
            f"{row['module']:<28} {row['ms']:>7} ms ({row['ratio']}x)   without bytecode "
            f"{row['ms_without_bytecode']:>7} ms ({row['ratio_without_bytecode']}x)   import boto3 {row['baseline']} ms"
        )
