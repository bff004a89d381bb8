"""Each step emits its duration and each job end its outcome, as CloudWatch metrics in EMF on stdout; only
invocations X-Ray samples are traced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from revoice.handlers import runtime
from revoice.pipeline.contract import Step


@pytest.fixture(autouse=True)
def _namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "revoice")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "revoice")
    runtime.metrics.cache_clear()
    yield
    runtime.metrics.cache_clear()


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def _metric(record: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    [definition] = record["_aws"]["CloudWatchMetrics"]
    [metric] = definition["Metrics"]
    return definition["Namespace"], metric["Name"], {k: record[k] for d in definition["Dimensions"] for k in d}


def test_a_step_emits_its_duration_by_step_and_outcome(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(runtime, "MEASURED_STEPS", {})

    @runtime.record_step(Step.PUSH)
    def handler(event: Any, context: Any) -> dict[str, int]:
        return {"pushed": event}

    assert handler(2, None) == {"pushed": 2}
    [record] = _records(capsys.readouterr().out)
    namespace, name, dimensions = _metric(record)
    assert (namespace, name) == ("revoice", "StepDuration")
    assert (dimensions["step"], dimensions["outcome"]) == ("push", "ok")
    [milliseconds] = record["StepDuration"] if isinstance(record["StepDuration"], list) else [record["StepDuration"]]
    assert 0 <= milliseconds < 1000
    assert {Step.PUSH: handler} == runtime.MEASURED_STEPS


def test_a_step_that_raises_is_measured_as_an_error_and_still_raises(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(runtime, "MEASURED_STEPS", {})

    @runtime.record_step(Step.VOICE)
    def handler(event: Any, context: Any) -> None:
        raise ValueError("no voice")

    with pytest.raises(ValueError, match="no voice"):
        handler({}, None)
    [record] = _records(capsys.readouterr().out)
    assert _metric(record)[2]["outcome"] == "error"


def test_a_job_end_is_counted_by_status_and_error_code(capsys: Any) -> None:
    runtime.record_job_end("FAILED", "voice_not_found")
    runtime.record_job_end("SUCCEEDED")
    failed, succeeded = (_metric(r) for r in _records(capsys.readouterr().out))
    assert failed[1:] == ("JobsEnded", {"status": "FAILED", "errorCode": "voice_not_found", "service": "revoice"})
    assert succeeded[1:] == ("JobsEnded", {"status": "SUCCEEDED", "service": "revoice"})


def test_an_invocation_x_ray_does_not_sample_makes_no_tracer_and_opens_no_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Made, the Tracer imports the X-Ray SDK, whose emitter opens a UDP socket (which this module's network
    guard would refuse); a sampled invocation does make it: tests/e2e/test_lambda_runtime.py."""
    runtime.tracer.cache_clear()

    @runtime.traced
    def handler(event: Any, context: Any) -> Any:
        return event

    for header in ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0", None):
        if header is None:
            monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
        else:
            monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
        assert handler(1, None) == 1
    assert runtime.tracer.cache_info().currsize == 0
