"""``make bench``: revoice's figures beside their baselines, as ratios; writes tests/bench/results.md and
docs/benchmarks.md's table. Not part of ``make test``: it moves gigabytes and runs a 60-job batch.

    .venv/bin/python -m tests.bench.suite            # everything, each part in its own process (~15 min)
    .venv/bin/python -m tests.bench.suite latency    # one part; the tables keep the others' last figures
                                                     # (tests/bench/results.json, committed with them)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from tests.bench.campaign_runs import campaign, campaign_batch, campaign_scale
from tests.bench.rows import SAVED, Row, row, table, write
from tests.bench.stack_runs import batch, latency_and_transitions


def transfer(sizes: tuple[int, ...] = (64, 512, 2048)) -> list[Row]:
    from tests.bench.push_memory import measure

    rows = []
    for size in sizes:
        figures = measure(size)
        push, plain = figures["push"], figures["plain"]
        rows.append(
            row(
                f"push {size} MiB: peak RSS (MiB)",
                push["peak_rss_mib"],
                plain["peak_rss_mib"],
                "< 150 MiB, flat in size",
                push["peak_rss_mib"] < 150,
                f"python -m tests.bench.push_memory {size}",
            )
        )
        rows.append(
            row(
                f"push {size} MiB: throughput (MiB/s)",
                push["mib_per_s"],
                plain["mib_per_s"],
                ">= 0.8x the plain copy",
                push["mib_per_s"] >= 0.8 * plain["mib_per_s"],
                f"python -m tests.bench.push_memory {size}",
                higher_is_better=True,
            )
        )
    return rows


def push_per_memory_size() -> list[Row]:
    """The push at the CPU Lambda gives each MemorySize, against what 900 s must move (5 GiB twice)."""
    from tests.bench.push_memory import lambda_memory_sizes

    needed = 2 * 5 * 1024 / 900  # MiB/s: the largest source and target the API takes, within Lambda's 900 s
    return [
        row(
            f"push at a {r['memory_mb']} MB Lambda's CPU share (MiB/s; {r['gib_in_900_s']} GiB in 900 s, "
            f"peak RSS {r['peak_rss_mib']} MiB)",
            r["mib_per_s"],
            round(needed, 1),
            ">= 11.4 MiB/s (5 GiB source + 5 GiB target in 900 s)",
            r["mib_per_s"] >= needed,
            "python -m tests.bench.push_memory lambda",
            higher_is_better=True,
        )
        for r in lambda_memory_sizes()
    ]


def cold_start() -> list[Row]:
    from tests.bench.cold_start import measure

    rows = []
    for r in measure():
        rows.append(
            row(
                f"cold start: import {r['module']} from the built package, clean interpreter (ms)",
                r["ms"],
                r["baseline"],
                "<= 1.3x import boto3",
                float(r["ratio"]) <= 1.3,
                "python -m tests.bench.cold_start",
            )
        )
        rows.append(
            row(
                f"cold start: the same without shipped bytecode (ms, {r['module'].rsplit('.', 1)[-1]})",
                r["ms_without_bytecode"],
                r["baseline"],
                "(why bytecode ships)",
                float(r["ratio_without_bytecode"]) > float(r["ratio"]),
                "python -m tests.bench.cold_start",
            )
        )
    return rows


def demo() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "revoice_local.cli", "demo", "--out", tmp],
            check=True,
            capture_output=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
        took = time.monotonic() - started
    return [
        row("make demo wall time after set-up (s)", round(took, 1), 30, "< 30 s", took < 30, ".venv/bin/revoice demo")
    ]


def campaign_long() -> list[Row]:
    """The campaign at T = 6 s: a campaign's fixed costs (its push, clone and plan, its first line's speech,
    its report: about 5 s whatever T is) are what 1.10x of a 20 s bound cannot hold; nearer the generation
    times sync. labs takes, they can."""
    return campaign(generation_seconds=6.0, part="campaign_long")


PARTS: dict[str, Callable[[], list[Row]]] = {  # make bench's order, and the tables'
    "transfer": transfer,
    "memory": push_per_memory_size,
    "batch": batch,
    "latency": latency_and_transitions,
    "cold": cold_start,
    "demo": demo,
    "campaign": campaign,
    "campaign_long": campaign_long,
    "campaign_batch": campaign_batch,
    "campaign_scale": campaign_scale,
}


def saved_rows(saved: dict[str, list[Row]]) -> list[Row]:
    """Every part's rows as last run, in the tables' order."""
    return [row for name in PARTS for row in saved.get(name, [])]


def main() -> None:
    chosen = sys.argv[1:] or list(PARTS)
    if len(chosen) > 1:  # each part in a process of its own: a peak RSS (ru_maxrss), a warm cache, is its own
        for name in chosen:
            subprocess.run([sys.executable, "-m", "tests.bench.suite", name], check=True)
        return
    saved = json.loads(SAVED.read_text()) if SAVED.exists() else {}
    for name in chosen:
        started = time.monotonic()
        saved[name] = PARTS[name]()
        SAVED.write_text(json.dumps(saved, indent=1) + "\n")  # each part as soon as it has run
        print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
        print(table(saved[name]), flush=True)
    write(saved_rows(saved))


if __name__ == "__main__":
    main()
