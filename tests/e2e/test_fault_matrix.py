"""The fault matrix: a batch of jobs per fault, through the local stack and the emulator's fault
injection. Every job must complete or end in ``failed/<job>/error.json`` with a specific reason; none
may be lost or duplicated; no generation slot or voice hold may leak; the job table must agree with S3.

The table is printed at the end of the test session (see ``tests/summary.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from revoice.aws.tables import VoiceTable
from revoice_local.emulator.config import FaultRule
from revoice_local.stack.stack import JobEnd, LocalStack
from tests.e2e.conftest import OUTLASTS_THE_JOB, IngestEvents, Jobs, MatrixRow
from tests.summary import record

BATCH = 3
LINE = "Every job in the batch says this line in the speaker's voice."
VAGUE_CODES = {"internal_error", "unknown_failure", "execution_failed"}


@dataclass
class Fault:
    name: str
    rules: list[FaultRule] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    expect: str = "completed"  # or the errorCode every job must fail with
    arrange: Callable[[LocalStack, Jobs], None] | None = None
    after_drop: Callable[[LocalStack, list[str], IngestEvents], None] | None = None
    evidence: str = "injected"  # the counter that proves the fault really happened (see _evidence)


def _evidence(stack: LocalStack) -> dict[str, int]:
    emulator = stack.emulator.emulator
    return {
        "injected": len(emulator.faults.injected),
        "clone limit refusals": emulator.errors_answered["voice_clone_limit_reached"],
        "crashes": stack.runtime.invocations.errors["RuntimeError"],
        "generations": len(emulator.generations),
        "ingests": sum(
            n for name, n in stack.runtime.invocations.by_function.items() if name.endswith("IngestFunction")
        ),
    }


def _lambda_crashes(stack: LocalStack, _: Jobs) -> None:
    """The call succeeds, then the Lambda dies before it can return: a crash mid-step."""
    stack.crash_after("revoice.sync.client:SyncClient.upload", BATCH)  # push: an asset uploaded, the other not yet
    stack.crash_after("revoice.sync.client:SyncClient.create_generation", BATCH)  # the generation exists, unrecorded
    stack.crash_after("revoice.aws.s3:S3ObjectStore.upload_stream", BATCH)  # store: copied, no result yet


def _clone_slots_full_of_idle_clones(stack: LocalStack, jobs: Jobs) -> None:
    """Earlier jobs leave idle revoice clones behind, and they fill every slot: the next clone gets 403
    voice_clone_limit_reached, and the job must free one of them and try again."""
    source = jobs.put_video("speaker")
    earlier = [
        jobs.drop_manifest({"source": source, "script": LINE, "voice": "fresh"}, name=f"e{n}") for n in range(BATCH)
    ]
    assert all(stack.wait_for_job(jobs.job_id(key)).status == "SUCCEEDED" for key in earlier)
    emulator = stack.emulator.emulator
    emulator.config.clone_slots = len(emulator.voices)


def _deliver_each_event_twice_more(stack: LocalStack, keys: list[str], ingest_events: IngestEvents) -> None:
    for key in keys:
        ingest_events.deliver_again(stack, key, times=2)


def _generations_never_finish(stack: LocalStack, _: Jobs) -> None:
    stack.emulator.emulator.config.processing_seconds = OUTLASTS_THE_JOB


def _abort_once_generating(stack: LocalStack, keys: list[str], _: IngestEvents) -> None:
    """Stop each execution while its generation runs, that is while it holds a generation slot."""
    import time

    from revoice.pipeline.job_id import job_id_for

    for key in keys:
        etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"].strip('"')
        job_id = job_id_for(stack.bucket, key, etag)
        deadline = time.monotonic() + 60
        while not str((stack.job(job_id) or {}).get("syncStatus", "")).startswith("generation "):
            assert time.monotonic() < deadline, f"{job_id} never started its generation"
            time.sleep(0.1)
        assert job_id in stack.generation_slots().holders()
        stack.sfn.stop_execution(executionArn=stack.execution_arn(job_id), error="Operator", cause="fault matrix")


FAULTS = [
    Fault("429 rate limit", [FaultRule(target="POST /v2/*", kind="rate_limit", delay=0.5, times=12)]),
    Fault(
        "429 concurrency",
        [FaultRule(target="POST /v2/generate", kind="concurrency_limit", delay=0.5, times=12)],
    ),
    Fault(
        "5xx bursts",
        [
            FaultRule(target="*", kind="server_error", status=503, times=6),
            FaultRule(target="GET /v2/*", kind="server_error", status=500, times=6),
        ],
    ),
    Fault("dropped connections", [FaultRule(target="*", kind="drop", times=8)]),
    Fault(
        "slow answers past the client timeout",
        [
            FaultRule(target="POST /v2/generate", kind="slow", delay=5, times=2),
            FaultRule(target="GET /v2/tts/jobs/*", kind="slow", delay=5, times=1),
        ],
    ),
    Fault(
        "generation FAILED",
        [FaultRule(target="generation", kind="fail", times=None, error_code="lipsync_face_not_found")],
        expect="lipsync_face_not_found",
    ),
    Fault(
        "generation REJECTED", [FaultRule(target="generation", kind="reject", times=None)], expect="generation_rejected"
    ),
    Fault("lost webhooks", [FaultRule(target="webhook", kind="webhook_lost", times=None)]),
    Fault("duplicated webhooks", [FaultRule(target="webhook", kind="webhook_duplicate", times=None)]),
    Fault("reordered webhooks", [FaultRule(target="webhook", kind="webhook_reorder", delay=1.0, times=2)]),
    Fault(
        "generation never finishes (job timeout)",
        manifest={"poll_seconds": 1, "timeout_seconds": 5, "callback": False},
        arrange=_generations_never_finish,
        expect="generation_timeout",
        evidence="generations",
    ),
    Fault(
        "execution aborted mid-generation",
        manifest={"callback": False},
        arrange=_generations_never_finish,
        after_drop=_abort_once_generating,
        expect="execution_aborted",
        evidence="generations",
    ),
    Fault("Lambda raising mid-step", arrange=_lambda_crashes, evidence="crashes"),
    Fault("same S3 event x3", after_drop=_deliver_each_event_twice_more, evidence="ingests"),
    Fault(
        "clone-slot 403",
        manifest={"voice": "fresh"},
        arrange=_clone_slots_full_of_idle_clones,
        evidence="clone limit refusals",
    ),
]


@pytest.fixture
def matrix_row(request: pytest.FixtureRequest) -> Iterator[MatrixRow]:
    fault: Fault = request.param
    row = MatrixRow(fault.name, jobs=BATCH)
    yield row
    record(request, "fault matrix", row.summary())


@pytest.mark.parametrize("matrix_row", FAULTS, ids=[f.name for f in FAULTS], indirect=True)
def test_every_job_completes_or_fails_cleanly_and_nothing_is_lost_duplicated_or_leaked(
    stack: LocalStack,
    jobs: Jobs,
    matrix_row: MatrixRow,
    request: pytest.FixtureRequest,
    ingest_events: IngestEvents,
) -> None:
    fault: Fault = request.node.callspec.params["matrix_row"]
    emulator = stack.emulator.emulator
    source, target = jobs.put_video("speaker"), jobs.put_video("presenter")
    if fault.arrange is not None:
        fault.arrange(stack, jobs)
    emulator.faults.replace(fault.rules)
    generations_before = set(emulator.generations)
    evidence_before = _evidence(stack)
    keys = [
        jobs.drop_manifest({"source": source, "target": target, "script": LINE, **fault.manifest}, name=f"m{n}")
        for n in range(BATCH)
    ]
    if fault.after_drop is not None:
        fault.after_drop(stack, keys, ingest_events)
    job_ids = [jobs.job_id(key) for key in keys]
    ends = {job_id: _end(stack, job_id) for job_id in job_ids}

    assert _evidence(stack)[fault.evidence] > evidence_before[fault.evidence], f"{fault.name} never happened"
    executions = [e["name"] for e in stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]]
    new_generations = [g for g in emulator.generations.values() if g.id not in generations_before]
    matrix_row.count(ends, expect=fault.expect, vague=VAGUE_CODES)
    per_job = Counter(g.idempotency_key for g in new_generations)
    matrix_row.duplicated = sum(executions.count(job_id) - 1 for job_id in job_ids if job_id in executions) + sum(
        count - 1 if key in job_ids else count for key, count in per_job.items()
    )
    registry = VoiceTable(stack.dynamodb.Table(str(stack.plan.outputs["VoicesTableName"])))
    held_voices = [job for record in registry.all() for job in record.holders if job in job_ids]
    matrix_row.leaked = len(stack.generation_slots().holders() & set(job_ids)) + len(held_voices)

    for job_id, end in ends.items():
        record = stack.job(job_id) or {}
        assert end is not None, f"{fault.name}: job {job_id} was lost (execution {record.get('status')})"
        expected_status = "SUCCEEDED" if end.result is not None else "FAILED"
        assert record.get("status") == expected_status, f"{fault.name}: the job table disagrees with S3 for {job_id}"
        if end.result is not None:
            assert [key.rsplit("/", 1)[-1] for key in jobs.keys(f"results/{job_id}/")] == [
                "output.mp4",
                "result.json",
                "speech.wav",
            ]
            assert stack.read_json(f"failed/{job_id}/error.json") is None
    assert (matrix_row.lost, matrix_row.duplicated, matrix_row.leaked) == (0, 0, 0), matrix_row
    if fault.expect == "completed":
        assert matrix_row.completed == BATCH, [e.error for e in ends.values() if e is not None and e.error]
    else:
        assert matrix_row.failed_cleanly == BATCH, [e.error for e in ends.values() if e is not None and e.error]


def _end(stack: LocalStack, job_id: str) -> JobEnd | None:
    try:
        return stack.wait_for_job(job_id, timeout=120)
    except TimeoutError:
        return None
