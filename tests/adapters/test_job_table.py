"""The jobs table's many-row calls against moto's DynamoDB over HTTP: a campaign's line rows written
concurrently with the single-row write's semantics, and read back 100 at a time."""

from __future__ import annotations

from typing import Any

import pytest

from revoice.aws.tables import JobTable
from revoice.pipeline.ports import QueuedLine


@pytest.fixture(scope="module")
def table(dynamodb: Any) -> Any:
    return dynamodb.create_table(
        TableName="jobs",
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _line(n: int) -> QueuedLine:
    return QueuedLine(f"spring--l{n:04d}", "inbox/spring.csv", "media/speaker.mp4", f"arn:exec:{n}", "spring")


def test_a_campaigns_rows_are_written_and_read_back_in_bulk_as_one_by_one(table: Any) -> None:
    jobs = JobTable(table)
    lines = [_line(n) for n in range(230)]  # three BatchGetItem pages
    jobs.failed("spring--l0001", "lipsync", "generation_failed", "it failed", "failed/spring/l0001/error.json")
    jobs.lines_queued(lines)
    jobs.lines_queued(lines[:2])  # a rerun of two lines
    rows = jobs.get_many([line.job_id for line in lines] + ["spring--never"])
    assert len(rows) == 230
    assert rows["spring--l0000"]["attempts"] == 2
    assert rows["spring--l0005"]["attempts"] == 1
    assert (rows["spring--l0005"]["status"], rows["spring--l0005"]["step"]) == ("RUNNING", "queued")
    assert rows["spring--l0005"]["executionArn"] == "arn:exec:5"
    assert "errorCode" not in rows["spring--l0001"]  # the last run's failure cleared
    assert rows["spring--l0007"] == jobs.get("spring--l0007")
