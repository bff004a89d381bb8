"""A job's end event: its documented schema is the model's, and what it carries is keys, not signed URLs."""

from __future__ import annotations

import json

import jsonschema

from revoice.pipeline.outcome import ended_badly, succeeded
from revoice_local.event_schema import SCHEMA_FILE, schema

RESULT = {
    "jobId": "launch-0123456789abcdef",
    "status": "SUCCEEDED",
    "trigger": {"bucket": "b", "key": "inbox/launch.json", "version": "v1"},
    "generation": {"outputUrl": "https://assets.sync.so/outputs/x/out.mp4"},
    "outputs": {"video": "results/launch-0123456789abcdef/output.mp4", "speech": None},
    "timings": {"push": 0.4, "total": 9.5},
    "finishedAt": "2026-11-24T09:37:44.212Z",
}
FAILURE = {
    "jobId": "from-cms-2f0b9a1c5d3e4f60",
    "status": "FAILED",
    "step": "lipsync",
    "errorCode": "generation_rejected",
    "reason": "sync. labs rejected the generation",
    "trigger": "api/from-cms-2f0b9a1c5d3e4f60",
    "failedAt": "2026-11-24T09:40:00.000Z",
}


def test_the_documented_schema_is_the_one_the_functions_publish() -> None:
    assert SCHEMA_FILE.read_text() == schema(), "run: python -m revoice_local.event_schema --write"


def test_every_kind_of_end_makes_an_event_the_schema_accepts() -> None:
    documented = json.loads(SCHEMA_FILE.read_text())
    ends = [
        succeeded(RESULT, result_key="results/launch-0123456789abcdef/result.json", notify=True),
        ended_badly(FAILURE, error_key="failed/from-cms-2f0b9a1c5d3e4f60/error.json", notify=False),
        ended_badly(
            {**FAILURE, "status": "REJECTED", "step": "ingest", "trigger": "inbox/x.json"}, error_key="k", notify=False
        ),
    ]
    for outcome in ends:
        jsonschema.validate(outcome.wire(), documented)
    assert [(o.detail_type, o.trigger) for o in ends] == [
        ("Job Succeeded", "s3"),
        ("Job Failed", "http"),
        ("Job Rejected", "s3"),
    ]


def test_an_event_names_keys_and_never_a_url() -> None:
    wire = json.dumps(succeeded(RESULT, result_key="results/x/result.json", notify=False).wire())
    assert "https://" not in wire
    assert "results/launch-0123456789abcdef/output.mp4" in wire
