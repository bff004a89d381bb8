"""Campaign benchmarks through the local stack: a campaign of N lines beside N single jobs in the same run
(makespan, the slot idle gap, pushes and clones), and a campaign of 1,000 lines (all complete, never more
than the plan in flight, memory, state transitions and AWS cost per 1,000 lines)."""

from __future__ import annotations

import json
import math
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.bench.rows import SAVED, HostShare, Row, row
from tests.bench.stack_runs import (
    PRICE_INVOCATION_DURATION,
    PRICE_REQUEST,
    PRICE_TRANSITION,
    SINGLE_JOBS_COST,
    _drop,
    _epoch,
    _sample,
    _stack,
)


def _single_jobs_cost() -> float:
    """1,000 single jobs' AWS cost, as `python -m tests.bench.suite latency` last measured it."""
    latency = json.loads(SAVED.read_text())["latency"]
    return float(next(r["revoice"] for r in latency if r["benchmark"].startswith(SINGLE_JOBS_COST)))


@contextmanager
def _speaker_stack(concurrency: int, generation_seconds: float, scale: float, **emulator: Any) -> Iterator[Any]:
    """A local stack at the plan's concurrency and generation time, the speaker in media/speaker.mp4."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        _stack(
            time_scale=scale,
            concurrency=concurrency,
            pending_seconds=0,
            processing_seconds=generation_seconds / scale,
            **emulator,
        ) as stack,
    ):
        stack.s3.upload_file(str(_sample(Path(tmp))), stack.bucket, "media/speaker.mp4")
        yield stack


def _item_states() -> int:
    """The states a Map item of the campaign machine enters on its way (its child workflow)."""
    from revoice_local.campaign_statemachine import definition

    return len(definition()["States"]["Run lines"]["ItemProcessor"]["States"])


def _campaign_file(n: int) -> bytes:
    return ("script,output_name\n" + "".join(f"A line for customer {i}.,l{i:05d}\n" for i in range(n))).encode()


def _run_campaign(stack: Any, n: int, name: str, **metadata: str) -> tuple[str, float]:
    from revoice.pipeline.job_id import job_id_for

    key = f"inbox/{name}-{time.time_ns()}.csv"
    started = time.monotonic()
    answer = stack.s3.put_object(
        Bucket=stack.bucket, Key=key, Body=_campaign_file(n), Metadata={"source": "media/speaker.mp4", **metadata}
    )
    campaign_id = job_id_for(stack.bucket, key, answer["ETag"].strip('"'))
    while stack.read_json(f"results/{campaign_id}/summary.json") is None:
        time.sleep(0.2)
    return campaign_id, time.monotonic() - started


def _gaps(generations: list[Any], concurrency: int, ready: dict[str, float] | None = None) -> list[float]:
    """Each slot's idle time between one generation's end and the next one's start (slots assigned greedily);
    given when each generation's job asked for a slot (``ready``), only the part after it asked."""
    asked = ready or {}
    spans = sorted((_epoch(g.created_at), g.finished_at, g.id) for g in generations if g.finished_at)
    slots: list[float] = []
    gaps = []
    for start, end, generation in spans:
        if len(slots) < concurrency:
            slots.append(end)
            continue
        free = min(range(concurrency), key=lambda i: slots[i])
        idle_from = max(slots[free], asked.get(generation, 0.0))
        gaps.append(max(0.0, start - idle_from))
        slots[free] = end
    return sorted(gaps) or [0.0]


def _slot_state() -> str:
    """The job machine's state that takes a generation slot (or joins the line): where a wait in line that
    timed out goes back to."""
    from revoice.pipeline.contract import LipsyncOperation
    from revoice_local.statemachine import definition

    [state] = [
        catch["Next"]
        for state in definition()["States"].values()
        if state.get("Parameters", {}).get("Payload", {}).get("operation") == LipsyncOperation.JOIN_THE_LINE
        for catch in state["Catch"]
        if "States.Timeout" in catch["ErrorEquals"]
    ]
    return str(state)


def _asked_for_a_slot(stack: Any, generations: list[Any]) -> dict[str, float]:
    """When each generation's job first entered the state that takes a slot, by generation id: a slot freed
    before the next job got there idles because no job was ready (on two cores, 54 others were still
    pushing, cloning and speaking), not because of the hand-over."""
    slot_state, asked = _slot_state(), {}
    for generation in generations:
        events = stack.history(generation.idempotency_key)  # a job's generation carries the job's id as its key
        asked[generation.id] = min(
            event["timestamp"].timestamp()
            for event in events
            if event["type"] == "TaskStateEntered" and event["stateEnteredEventDetails"]["name"] == slot_state
        )
    return asked


def _p95(values: list[float]) -> float:
    return values[math.ceil(0.95 * len(values)) - 1]


def campaign(
    n: int = 60, concurrency: int = 6, generation_seconds: float = 2.0, scale: float = 0.05, part: str = "campaign"
) -> list[Row]:
    """N lines as one campaign beside N single jobs, one after the other on one local stack (``part``: the
    suite's name for the run)."""
    with _speaker_stack(concurrency, generation_seconds, scale) as stack:
        emulator = stack.emulator.emulator
        manifest = {"source": "media/speaker.mp4", "script": "A line for the batch."}
        started = time.monotonic()
        for job_id in _drop(stack, [dict(manifest, output_name=f"job{i}") for i in range(n)]):
            stack.wait_for_job(job_id, timeout=1800)
        singles = time.monotonic() - started
        single_generations = list(emulator.generations.values())
        singles_asked = _asked_for_a_slot(stack, single_generations)
        before = (len(emulator.assets), len(emulator.voices), set(emulator.generations))
        with HostShare() as host:
            campaign_id, made = _run_campaign(stack, n, "bench")
        summary = stack.read_json(f"results/{campaign_id}/summary.json") or {}
        lines = [g for key, g in emulator.generations.items() if key not in before[2]]
        pushes, clones = len(emulator.assets) - before[0], len(emulator.voices) - before[1]
    bound = math.ceil(n / concurrency) * generation_seconds
    command, at = f"python -m tests.bench.suite {part}", f"T = {generation_seconds:.1f} s"
    single_gaps, line_gaps = _gaps(single_generations, concurrency), _gaps(lines, concurrency)
    handover_gaps = _gaps(single_generations, concurrency, singles_asked)
    done = summary.get("counts", {}).get("SUCCEEDED")
    return [
        row(
            f"campaign makespan (s): {n} lines, plan concurrency {concurrency}, {at}; {done} succeeded{host.note}",
            round(made, 1),
            round(bound, 1),
            "<= 1.10x ceil(N/C)*T",
            made <= 1.1 * bound and done == n,
            command,
        ),
        row(
            f"the same {n} lines as single jobs, in the same run (s; {at})",
            round(singles, 1),
            round(bound, 1),
            "(beside the campaign)",
            True,
            command,
        ),
        row(
            f"slot idle gap, campaign (s, p95; median {statistics.median(line_gaps):.2f} s; {at})",
            round(_p95(line_gaps), 2),
            1.0,
            "p95 < 1 s",
            _p95(line_gaps) < 1.0,
            command,
        ),
        row(
            f"slot idle gap, single jobs (s, p95; median {statistics.median(single_gaps):.2f} s; {at})",
            round(_p95(single_gaps), 2),
            1.0,
            "p95 < 1 s",
            _p95(single_gaps) < 1.0,
            command,
        ),
        row(
            f"the same, counted from when the next job asked for the slot: the hand-over (s, p95; median "
            f"{statistics.median(handover_gaps):.2f} s; the rest of the gap no job was ready; {at})",
            round(_p95(handover_gaps), 2),
            1.0,
            "p95 < 1 s",
            _p95(handover_gaps) < 1.0,
            command,
        ),
        row(
            f"pushes of the source per campaign, beside {n} single jobs' (the emulator's count; {clones} clone; {at})",
            pushes,
            n,
            "one push, one clone",
            pushes == 1 and clones <= 1,
            command,
        ),
    ]


def campaign_batch(
    n: int = 60, concurrency: int = 6, generation_seconds: float = 2.0, scale: float = 0.05
) -> list[Row]:
    """N lines through sync. labs' Batch API, the emulator running the batch at the plan's concurrency (so
    the bound is the same as line by line): the campaign's makespan, and where its seconds went."""
    with _speaker_stack(concurrency, generation_seconds, scale, batch_api=True, batch_parallelism=concurrency) as stack:
        emulator = stack.emulator.emulator
        with HostShare() as host:
            campaign_id, made = _run_campaign(stack, n, "batch", batch="true")
        summary = stack.read_json(f"results/{campaign_id}/summary.json") or {}
        [record] = emulator.batches.values()
        generations = [emulator.generations[g] for g in record.generations.values()]
    bound = math.ceil(n / concurrency) * generation_seconds
    first = min(_epoch(g.created_at) for g in generations)
    last = max(float(g.finished_at or 0) for g in generations)
    gaps = _gaps(generations, concurrency)
    done = summary.get("counts", {}).get("SUCCEEDED")
    return [
        row(
            f"campaign makespan through the Batch API (s): {n} lines, batch run {concurrency} at a time, "
            f"T = {generation_seconds:.1f} s; {done} succeeded; the batch itself {last - first:.1f} s{host.note}",
            round(made, 1),
            round(bound, 1),
            "<= 1.10x ceil(N/C)*T",
            made <= 1.1 * bound and done == n,
            "python -m tests.bench.suite campaign_batch",
        ),
        row(
            f"slot idle gap inside the batch (s, p95; median {statistics.median(gaps):.2f} s)",
            round(_p95(gaps), 2),
            1.0,
            "p95 < 1 s",
            _p95(gaps) < 1.0,
            "python -m tests.bench.suite campaign_batch",
        ),
    ]


def campaign_scale(
    n: int = 1000, concurrency: int = 6, generation_seconds: float = 0.5, scale: float = 0.05
) -> list[Row]:
    """1,000 lines: all complete, at most the plan in flight, the local stack's memory, transitions and cost."""
    with _speaker_stack(concurrency, generation_seconds, scale) as stack:
        _run_campaign(stack, 100, "warm")
        small_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        calls_before = sum(stack.runtime.invocations.by_function.values())
        with HostShare() as host:
            campaign_id, made = _run_campaign(stack, n, "scale")
        print(f"{n} lines: {made:.1f} s", file=sys.stderr)  # the figure, before anything else is read
        invocations = (sum(stack.runtime.invocations.by_function.values()) - calls_before) / n
        large_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary = stack.read_json(f"results/{campaign_id}/summary.json") or {}
        peak = stack.emulator.emulator.max_in_flight
        per_line = statistics.mean(stack.state_transitions(f"{campaign_id}--l{i:05d}") for i in (0, n // 2, n - 1))
        own = stack.state_transitions(f"{campaign_id}-1", "CampaignStateMachineArn") / n  # measured
        campaign_events = own + _item_states()  # moto keeps no history of the Map's child workflows
    per_call = PRICE_REQUEST + PRICE_INVOCATION_DURATION
    cost = 1000 * (PRICE_TRANSITION * (per_line + campaign_events) + invocations * per_call)
    single = _single_jobs_cost()
    bound = math.ceil(n / concurrency) * generation_seconds
    done = summary.get("counts", {}).get("SUCCEEDED")
    return [
        row(
            f"campaign of {n} lines (s): {done} succeeded, at most {peak} generations in flight (plan {concurrency}), "
            f"T = {generation_seconds} s{host.note}",
            round(made, 1),
            round(bound, 1),
            "all complete, never more than the plan in flight",
            done == n and peak <= concurrency,
            "python -m tests.bench.suite campaign_scale",
        ),
        row(
            f"local stack peak RSS (MiB) after {n} lines, beside after 100",
            round(large_rss),
            round(small_rss),
            "flat in the number of lines (< 1.5x)",
            large_rss < 1.5 * small_rss,
            "python -m tests.bench.suite campaign_scale",
        ),
        row(
            f"state transitions per line ({campaign_events:.1f} of them the campaign's: {own:.2f} measured, "
            f"{_item_states()} a Map item enters, counted from the ASL)",
            round(per_line + campaign_events, 1),
            25,
            "< 25",
            per_line + campaign_events < 25,
            "python -m tests.bench.suite campaign_scale",
        ),
        row(
            f"AWS cost per 1,000 lines, USD ({invocations:.1f} invocations a line, measured; beside 1,000 single "
            "jobs as the latency bench last measured them)",
            round(cost, 3),
            round(single, 3),
            "<= 1,000 single jobs'",
            cost <= single,
            "python -m tests.bench.suite campaign_scale",
        ),
    ]
