"""The benchmarks that run jobs through the local stack: a batch at the plan's concurrency beside the
sequential seed-style script, and one job's latency, transitions and cost."""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench.rows import HostShare, Row, row

# Published prices used for the cost figures (us-east-1): Step Functions Standard, Lambda requests,
# and Lambda arm64 duration at the template's 256 MB and an assumed 200 ms billed per invocation.
PRICE_TRANSITION = 0.025 / 1000
PRICE_REQUEST = 0.20 / 1_000_000
PRICE_INVOCATION_DURATION = 0.0000133334 * 0.25 * 0.2
SINGLE_JOBS_COST = "AWS cost per 1,000 jobs, USD"  # the latency bench's row, the campaign's baseline


def _stack(**emulator: Any) -> Any:
    from revoice_local.emulator.config import EmulatorConfig
    from revoice_local.stack.stack import LocalStack

    return LocalStack(
        EmulatorConfig(
            clone_slots=1000,
            clones_per_hour=100_000,
            generate_per_minute=100_000,
            tts_per_minute=100_000,
            uploads_per_minute=100_000,
            **emulator,
        ),
        parameters={"LogLevel": "ERROR"},
    )


def _sample(root: Path) -> Path:
    from revoice_local import media

    path = root / "speaker.mp4"
    media.make_talking_head(path, "I am the speaker of the benchmark clip.")
    return path


def _drop(stack: Any, manifests: list[dict[str, Any]]) -> list[str]:
    """Upload the manifests; their job ids come from the ETags the uploads answered (no HeadObject each)."""
    from revoice.pipeline.job_id import job_id_for

    job_ids = []
    for n, manifest in enumerate(manifests):
        key = f"inbox/bench-{time.time_ns()}-{n}.json"
        answer = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(manifest).encode())
        job_ids.append(job_id_for(stack.bucket, key, answer["ETag"].strip('"')))
    return job_ids


def batch(n: int = 60, concurrency: int = 6, generation_seconds: float = 2.0, scale: float = 0.05) -> list[Row]:
    """N jobs at once at plan concurrency C: makespan beside ceil(N/C)*T and a sequential seed-style script."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        _stack(
            time_scale=scale, concurrency=concurrency, pending_seconds=0, processing_seconds=generation_seconds / scale
        ) as stack,
    ):
        source = _sample(Path(tmp))
        stack.s3.upload_file(str(source), stack.bucket, "media/speaker.mp4")
        manifest = {
            "source": "media/speaker.mp4",
            "script": "A line for the batch.",
            "speech": "text",
            "voice_id": "builtin-adam",
        }
        started, dropped_at = time.monotonic(), time.time()
        with HostShare() as host:
            job_ids = _drop(stack, [dict(manifest, output_name=f"job{n}") for n in range(n)])
            ends = [stack.wait_for_job(job_id, timeout=1800) for job_id in job_ids]
        makespan = time.monotonic() - started
        failed = [e.job_id for e in ends if e.result is None]
        emulator = stack.emulator.emulator
        generations = [g for g in emulator.generations.values() if g.finished_at]
        durations = sorted(g.finished_at - _epoch(g.created_at) for g in generations)
        measured = statistics.median(durations)
        slowest = durations[math.ceil(0.95 * len(durations)) - 1]
        peak = emulator.max_in_flight
        first_start = min(_epoch(g.created_at) for g in generations)
        packed = max(g.finished_at for g in generations if g.finished_at) - first_start
        ramp_up = first_start - dropped_at
        sequential = _sequential(stack, source, n, poll_seconds=10 * scale)
    bound = math.ceil(n / concurrency) * generation_seconds  # the emulator's configured T, not a measured one
    note = (
        f"{n} jobs, plan concurrency {concurrency}, T = {generation_seconds:.1f} s configured; at most {peak} in flight"
    )
    if failed:
        note += f"; {len(failed)} failed"
    note += host.note
    return [
        row(
            f"batch makespan (s): {note}",
            round(makespan, 1),
            round(bound, 1),
            "<= 1.3x ceil(N/C)*T",
            makespan <= 1.3 * bound and not failed,
            "python -m tests.bench.suite batch",
        ),
        row(
            f"batch: the emulator's generation time T during the batch (s, median; p95 {slowest:.2f} s)",
            round(measured, 3),
            generation_seconds,
            "within 10 % of the configured T",
            abs(measured - generation_seconds) <= 0.1 * generation_seconds,
            "python -m tests.bench.suite batch",
        ),
        row(
            f"batch, the plan's slots kept busy (s): first generation start to last end ({ramp_up:.1f} s after the "
            "drop)",
            round(packed, 1),
            round(bound, 1),
            "<= 1.15x ceil(N/C)*T",
            packed <= 1.15 * bound,
            "python -m tests.bench.suite batch",
        ),
        row(
            "batch makespan vs a sequential seed-style script polling every 10 s (scaled)",
            round(makespan, 1),
            round(sequential, 1),
            "faster",
            makespan < sequential,
            "python -m tests.bench.suite batch",
        ),
    ]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _sequential(stack: Any, source: Path, n: int, poll_seconds: float) -> float:
    """The seed's flow, one job after another, with a fixed polling interval: what revoice replaces."""
    from revoice.sync import SyncClient
    from revoice.sync.models import GenerateRequest, MediaInput, TextInput, TtsProvider

    started = time.monotonic()
    with SyncClient(stack.emulator.config.api_key, base_url=stack.emulator.url) as sync:
        for _ in range(n):
            asset = sync.upload_file(str(source), content_type="video/mp4", asset_type="VIDEO")
            request = GenerateRequest(
                input=[
                    MediaInput(type="video", asset_id=asset.id),
                    TextInput(provider=TtsProvider(voice_id="builtin-adam", script="A line for the batch.")),
                ]
            )
            generation = sync.create_generation(request)
            while not generation.finished:
                time.sleep(poll_seconds)
                generation = sync.get_generation(generation.id)
            with open(os.devnull, "wb") as sink:
                sync.download(str(generation.output_url), sink)
    return time.monotonic() - started


def latency_and_transitions(jobs: int = 8, scale: float = 0.05) -> list[Row]:
    """Completion latency (generation COMPLETED -> result in S3), state transitions and invocations per job."""
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        _stack(time_scale=scale, pending_seconds=0, processing_seconds=3 / scale) as stack,
    ):
        stack.s3.upload_file(str(_sample(Path(tmp))), stack.bucket, "media/speaker.mp4")
        figures: dict[str, dict[str, float]] = {}
        for mode, callback in (("webhook", True), ("polling", False)):
            before = sum(stack.runtime.invocations.by_function.values())
            manifests = [
                {"source": "media/speaker.mp4", "script": f"Latency {n}.", "callback": callback} for n in range(jobs)
            ]
            ends = [stack.wait_for_job(job_id, timeout=600) for job_id in _drop(stack, manifests)]
            emulator = stack.emulator.emulator
            latencies = [
                _epoch(e.result["finishedAt"]) - emulator.generations[e.result["generation"]["id"]].finished_at
                for e in ends
                if e.result
            ]
            transitions = [stack.state_transitions(e.job_id) for e in ends]
            polls = [e.result["generation"]["polls"] for e in ends if e.result]
            invocations = (sum(stack.runtime.invocations.by_function.values()) - before) / jobs
            figures[mode] = {
                "latency": statistics.median(latencies),
                "transitions": statistics.median(transitions),
                "polls": statistics.median(polls),
                "invocations": invocations,
            }
    web, poll = figures["webhook"], figures["polling"]
    per_poll = (poll["transitions"] - web["transitions"] + 1) / max(poll["polls"], 1)
    five_minutes = web["transitions"] - 1 + per_poll * 30  # a 5-minute generation checked every 10 s
    rows.append(
        row(
            "completion latency, webhook mode (s, median)",
            round(web["latency"], 2),
            round(poll["latency"], 2),
            "< 1 s",
            web["latency"] < 1,
            "python -m tests.bench.suite latency",
        )
    )
    rows.append(
        row(
            f"state transitions per job, webhook mode (polling mode, {poll['polls']:.0f} polls, beside)",
            web["transitions"],
            poll["transitions"],
            "< 25",
            web["transitions"] < 25,
            "python -m tests.bench.suite latency",
        )
    )
    rows.append(
        row(
            "state transitions per job, 5-minute generation: webhook vs a fixed 10 s polling loop",
            web["transitions"],
            round(five_minutes),
            "< 25",
            web["transitions"] < 25,
            "python -m tests.bench.suite latency",
        )
    )
    cost = {
        mode: 1000 * (t * PRICE_TRANSITION + i * (PRICE_REQUEST + PRICE_INVOCATION_DURATION))
        for mode, t, i in (
            ("webhook", web["transitions"], web["invocations"]),
            ("polling", five_minutes, web["invocations"] + (five_minutes - web["transitions"]) / 3),
        )
    }
    rows.append(
        row(
            f"{SINGLE_JOBS_COST} (5-minute generation; {web['invocations']:.1f} invocations/job)",
            round(cost["webhook"], 3),
            round(cost["polling"], 3),
            "lower",
            cost["webhook"] < cost["polling"],
            "python -m tests.bench.suite latency",
        )
    )
    return rows
