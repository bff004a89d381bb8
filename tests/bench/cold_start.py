"""Cold start: import time of each handler module in fresh interpreters, beside a bare ``import boto3``.

.venv/bin/python -m tests.bench.cold_start
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any

HANDLERS = ["ingest", "push", "voice", "speech", "lipsync", "store", "failure", "webhook", "api", "cleanup"]
RUNS = 7


def import_ms(module: str, runs: int = RUNS) -> float:
    """Median cumulative import time (``-X importtime``) of ``module``, in milliseconds."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
        )
        last = [line for line in done.stderr.splitlines() if line.rstrip().endswith(f" {module}")][-1]
        times.append(int(last.split("|")[1]) / 1000)
    return round(statistics.median(times), 1)


def measure() -> list[dict[str, Any]]:
    baseline = import_ms("boto3")
    rows: list[dict[str, Any]] = [{"module": "boto3 (baseline)", "ms": baseline, "ratio": 1.0}]
    for name in HANDLERS:
        ms = import_ms(f"revoice.handlers.{name}")
        rows.append({"module": f"revoice.handlers.{name}", "ms": ms, "ratio": round(ms / baseline, 2)})
    return rows


if __name__ == "__main__":
    for row in measure():
        print(f"{row['module']:<32} {row['ms']:>7} ms  {row['ratio']}x")
