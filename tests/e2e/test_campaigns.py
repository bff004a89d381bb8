"""Campaigns through the local stack: a file of lines dropped in inbox/ runs on Step Functions' Distributed
Map, one job per line, with the speaker's videos pushed and voice chosen once."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from revoice.pipeline.job_id import job_id_for
from revoice_local.emulator.config import FaultRule
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs


def _drop_campaign(jobs: Jobs, name: str, body: bytes, **metadata: str) -> str:
    key = f"inbox/{jobs.prefix}-{name}"
    answer = jobs.stack.s3.put_object(Bucket=jobs.stack.bucket, Key=key, Body=body, Metadata=metadata)
    return job_id_for(jobs.stack.bucket, key, answer["ETag"].strip('"'))


def _summary(stack: LocalStack, campaign_id: str, timeout: float = 240) -> dict[str, Any]:
    """The campaign's summary.json, once its report is written."""
    deadline = time.monotonic() + timeout
    while (summary := stack.read_json(f"results/{campaign_id}/summary.json")) is None:
        failed = stack.read_json(f"failed/{campaign_id}/error.json")
        if failed is not None and failed.get("status") == "REJECTED":
            return failed
        assert time.monotonic() < deadline, f"campaign {campaign_id} did not end"
        time.sleep(0.5)
    return summary


def _lines(n: int, **extra: str) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["script", "output_name", *extra])
    writer.writeheader()
    for i in range(n):
        writer.writerow({"script": f"Hello customer {i}, this line is yours.", "output_name": f"c{i:03d}", **extra})
    return text.getvalue().encode()


def test_a_campaign_of_twenty_lines_runs_each_line_once_with_one_push_and_one_clone(
    stack: LocalStack, jobs: Jobs
) -> None:
    source = jobs.put_video("speaker")
    emulator = stack.emulator.emulator
    uploads_before, clones_before = len(emulator.assets), len(emulator.voices)
    campaign_id = _drop_campaign(jobs, "spring.csv", _lines(20), source=source)
    summary = _summary(stack, campaign_id)
    assert summary["status"] == "SUCCEEDED", summary
    assert summary["counts"] == {"SUCCEEDED": 20, "FAILED": 0, "NOT RUN": 0}
    assert len(emulator.assets) - uploads_before == 1  # the source, pushed once for the twenty lines
    assert len(emulator.voices) - clones_before <= 1  # one clone, or none: an earlier job's clone reused
    assert summary["voice"]
    assert summary["estimatedCost"] > 0
    for i in (0, 19):
        assert stack.s3.head_object(Bucket=stack.bucket, Key=f"results/{campaign_id}/c{i:03d}/output.mp4")
        result = stack.read_json(f"results/{campaign_id}/c{i:03d}/result.json") or {}
        assert result["voice"]["id"] == summary["voice"]  # every line in the campaign's one voice
    report_text = stack.s3.get_object(Bucket=stack.bucket, Key=summary["report"])["Body"].read().decode()
    report = list(csv.DictReader(io.StringIO(report_text)))
    assert [row["name"] for row in report] == [f"c{i:03d}" for i in range(20)]
    assert {row["status"] for row in report} == {"SUCCEEDED"}
    assert stack.emulator.emulator.max_in_flight <= stack.emulator.emulator.config.limits.concurrency


def test_a_bad_campaign_file_is_refused_whole_with_every_problem_by_line(stack: LocalStack, jobs: Jobs) -> None:
    source = jobs.put_video("speaker")
    body = b"script,output_name,model\nFine.,fine,\n,no-script,\nBad.,bad,lipsync-99\n"
    campaign_id = _drop_campaign(jobs, "broken.csv", body, source=source)
    error = _summary(stack, campaign_id, timeout=30)
    assert (error["status"], error["errorCode"]) == ("REJECTED", "invalid_campaign")
    assert [(p["line"], p["field"]) for p in error["problems"]] == [(3, "script"), (4, "model")]
    assert jobs.keys(f"results/{campaign_id}/") == []


def test_a_campaign_over_its_max_cost_is_refused_before_anything_is_generated(stack: LocalStack, jobs: Jobs) -> None:
    source = jobs.put_video("speaker")
    generations_before = len(stack.emulator.emulator.generations)
    manifest = {"source": source, "max_cost": 0.01, "lines": [{"script": f"Line {i}."} for i in range(3)]}
    campaign_id = _drop_campaign(jobs, "pricey.json", json.dumps(manifest).encode())
    summary = _summary(stack, campaign_id)
    assert summary["status"] == "FAILED"
    error = stack.read_json(f"failed/{campaign_id}/error.json") or {}
    assert error["errorCode"] == "campaign_over_budget"
    assert "max_cost" in error["reason"]
    assert len(stack.emulator.emulator.generations) == generations_before


def test_a_fault_mid_campaign_fails_its_lines_only_and_dropping_the_file_again_reruns_just_those(
    stack: LocalStack, jobs: Jobs
) -> None:
    source = jobs.put_video("speaker")
    body = _lines(6)
    stack.emulator.emulator.faults.replace(
        [FaultRule(target="generation", kind="fail", times=2, error_code="lipsync_face_not_found")]
    )  # two lines' generations fail
    campaign_id = _drop_campaign(jobs, "faulty.csv", body, source=source)
    first = _summary(stack, campaign_id)
    assert first["counts"] == {"SUCCEEDED": 4, "FAILED": 2, "NOT RUN": 0}, first
    failed = sorted(row["name"] for row in first["rows"] if row["status"] == "FAILED")
    assert all(row["errorCode"] for row in first["rows"] if row["status"] == "FAILED")
    stack.s3.delete_object(Bucket=stack.bucket, Key=f"results/{campaign_id}/summary.json")
    generations_before = len(stack.emulator.emulator.generations)
    assert _drop_campaign(jobs, "faulty.csv", body, source=source) == campaign_id  # the same file: the same campaign
    second = _summary(stack, campaign_id)
    assert second["counts"] == {"SUCCEEDED": 6, "FAILED": 0, "NOT RUN": 0}, second["rows"]
    assert len(stack.emulator.emulator.generations) - generations_before == len(failed)  # only those ran again


def test_a_dry_run_estimates_and_starts_nothing(stack: LocalStack, jobs: Jobs) -> None:
    source = jobs.put_video("speaker")
    generations_before = len(stack.emulator.emulator.generations)
    campaign_id = _drop_campaign(jobs, "preview.csv", _lines(4), source=source, **{"dry-run": "true"})
    summary = _summary(stack, campaign_id)
    assert (summary["status"], summary["dryRun"]) == ("SUCCEEDED", True)
    estimate = stack.read_json(f"results/{campaign_id}/estimate.json") or {}
    assert (estimate["lines"], estimate["estimatedCost"]) == (4, summary["estimatedCost"])
    assert len(stack.emulator.emulator.generations) == generations_before


def test_a_campaign_through_the_batch_api_runs_its_lines_in_one_batch_past_the_plan_concurrency(
    stack: LocalStack, jobs: Jobs
) -> None:
    emulator = stack.emulator.emulator
    source = jobs.put_video("speaker")
    batches_before, posts_before = len(emulator.batches), emulator.errors_answered["batch_not_available"]
    emulator.config.batch_api = True  # a Scale plan's org, for this test
    try:
        campaign_id = _drop_campaign(jobs, "bulk.csv", _lines(20), source=source, batch="true")
        summary = _summary(stack, campaign_id)
    finally:
        emulator.config.batch_api = None
    assert summary["status"] == "SUCCEEDED", summary
    assert summary["counts"] == {"SUCCEEDED": 20, "FAILED": 0, "NOT RUN": 0}
    [batch] = summary["batch"]["batches"]
    assert (batch["status"], batch["lines"], batch["fallback"]) == ("COMPLETED", 20, None)
    assert len(emulator.batches) - batches_before == 1
    assert emulator.errors_answered["batch_not_available"] == posts_before
    record = emulator.batches[batch["id"]]
    generations = [emulator.generations[g] for g in record.generations.values()]
    assert {g.status for g in generations} == {"COMPLETED"}
    assert all(g.text is not None for g in generations)  # each script spoken by sync. labs in the batch
    for i in (0, 19):
        result = stack.read_json(f"results/{campaign_id}/c{i:03d}/result.json") or {}
        assert result["generation"]["id"] == record.generations[f"{campaign_id}--c{i:03d}"], result
        assert stack.s3.head_object(Bucket=stack.bucket, Key=f"results/{campaign_id}/c{i:03d}/output.mp4")


def test_a_batch_campaign_on_a_plan_without_the_batch_api_runs_line_by_line_and_says_why(
    stack: LocalStack, jobs: Jobs
) -> None:
    source = jobs.put_video("speaker")
    campaign_id = _drop_campaign(jobs, "no-batch.csv", _lines(20), source=source, batch="true")
    summary = _summary(stack, campaign_id)
    assert summary["counts"] == {"SUCCEEDED": 20, "FAILED": 0, "NOT RUN": 0}, summary
    assert "402" in summary["batch"]["note"]
