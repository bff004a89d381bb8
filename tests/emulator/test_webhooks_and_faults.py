"""Signed webhooks and every kind of injected fault: the client recovers or reports clearly."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from revoice.sync import SyncApiError, SyncTransportError
from revoice.sync.models import GenerateRequest, TtsRequest
from revoice.sync.webhook import verify
from revoice_local.emulator.config import FaultRule
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Receiver, Samples, fast_client
from tests.emulator.test_generations import audio_request
from tests.waiting import wait_until


def _run_with_webhook(emulator: EmulatorServer, samples: Samples, receiver: Receiver, jobs: int = 1) -> list[str]:
    with fast_client(emulator) as client:
        request: GenerateRequest = audio_request(client, samples).model_copy(update={"webhook_url": receiver.url})
        ids = [client.create_generation(request).id for _ in range(jobs)]
        for generation_id in ids:
            client.wait_for_generation(generation_id)
    return ids


def _settle(emulator: EmulatorServer, generation_ids: list[str], attempts: int) -> None:
    """Until the emulator has logged ``attempts`` deliveries (or losses) for these generations: every
    webhook it will send for them has then reached the receiver."""
    log = emulator.emulator.webhook_log
    wait_until(
        lambda: sum(entry["generation"] in generation_ids for entry in log) >= attempts,
        what=f"{attempts} webhook deliveries",
    )


def test_a_finished_generation_posts_a_signed_webhook_that_verifies(
    emulator: EmulatorServer, samples: Samples, receiver: Receiver
) -> None:
    [generation_id] = _run_with_webhook(emulator, samples, receiver)
    _settle(emulator, [generation_id], 1)
    [delivery] = receiver.received
    with fast_client(emulator) as client:
        secret = client.webhook_secret()
    assert secret.startswith("whsec_")
    assert verify(delivery["headers"], delivery["body"], secret) > 0
    payload = delivery["json"]
    assert (payload["id"], payload["status"]) == (generation_id, "COMPLETED")
    assert "error_code" in payload
    assert payload["outputUrl"]


def test_a_failed_generation_webhook_carries_error_code_in_snake_case(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, receiver: Receiver
) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="generation", kind="fail", error_code="face_not_found")])
    _settle(emulator, _run_with_webhook(emulator, samples, receiver), 1)
    assert (receiver.received[0]["json"]["status"], receiver.received[0]["json"]["error_code"]) == (
        "FAILED",
        "face_not_found",
    )


@pytest.mark.parametrize(("kind", "deliveries"), [("webhook_lost", 0), ("webhook_duplicate", 2)])
def test_lost_and_duplicated_webhooks(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, receiver: Receiver, kind: str, deliveries: int
) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="webhook", kind=kind)])
    _settle(emulator, _run_with_webhook(emulator, samples, receiver), max(deliveries, 1))
    assert len(receiver.received) == deliveries


def test_a_delayed_webhook_is_overtaken_by_a_later_one(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, receiver: Receiver
) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="webhook", kind="webhook_reorder", delay=30.0)])
    ids = _run_with_webhook(emulator, samples, receiver, jobs=2)
    _settle(emulator, ids, 2)
    generations = emulator.emulator.generations
    first, second = sorted(ids, key=lambda generation_id: generations[generation_id].finished_at or 0)
    assert [d["json"]["id"] for d in receiver.received] == [second, first]


@pytest.mark.parametrize(
    "rule",
    [
        FaultRule(target="GET /v2/voices", kind="rate_limit", times=2, delay=0.01),
        FaultRule(target="GET /v2/voices", kind="server_error", status=502, times=3),
        FaultRule(target="GET /v2/voices", kind="server_error", status=500, times=1),
        FaultRule(target="GET /v2/voices", kind="drop", times=2),
        FaultRule(target="* /v2/voices*", kind="slow", delay=1.0, times=1),
    ],
    ids=["429", "502x3", "500", "drop", "slow"],
)
def test_the_client_recovers_from_each_transient_fault(
    emulator_factory: Callable[..., EmulatorServer], rule: FaultRule
) -> None:
    emulator = emulator_factory(faults=[rule])
    with fast_client(emulator, timeout=httpx.Timeout(0.5)) as client:
        assert client.list_voices()
    assert len(emulator.emulator.faults.injected) == (rule.times or 0)


def test_a_fault_that_outlasts_the_retries_is_reported_not_hidden(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="GET /v2/voices", kind="drop", times=None)])
    with fast_client(emulator) as client, pytest.raises(SyncTransportError) as caught:
        client.list_voices()
    assert caught.value.error_code == "connection_error"


def test_a_concurrency_fault_carries_retry_after_seconds(emulator_factory: Callable[..., EmulatorServer]) -> None:
    emulator = emulator_factory(faults=[FaultRule(target="GET /v2/voices", kind="concurrency_limit", delay=2)])
    answer = httpx.get(f"{emulator.url}/v2/voices", headers={"x-api-key": emulator.config.api_key})
    body = answer.json()
    assert (answer.status_code, body["errorCode"], body["retryAfterSeconds"]) == (
        429,
        "concurrency_limit_reached",
        0.02,
    )
    assert "retry-after" in answer.headers


def test_faults_can_be_armed_at_runtime_and_skip_the_first_matches(emulator: EmulatorServer) -> None:
    headers = {"x-api-key": emulator.config.api_key}
    armed = httpx.post(
        f"{emulator.url}/_emulator/faults",
        headers=headers,
        json={"rules": [{"target": "GET /v2/voices", "kind": "server_error", "status": 500, "skip": 1, "times": 1}]},
    )
    assert armed.status_code == 200
    codes = [httpx.get(f"{emulator.url}/v2/voices", headers=headers).status_code for _ in range(3)]
    assert codes == [200, 500, 200]


def test_the_elevenlabs_outage_code_is_retried_by_the_client(emulator_factory: Callable[..., EmulatorServer]) -> None:
    rule = FaultRule(
        target="POST /v2/tts/jobs", kind="server_error", error_code="elevenlabs_service_unavailable", times=2
    )
    emulator = emulator_factory(faults=[rule])
    with fast_client(emulator) as client:
        job = client.start_tts(TtsRequest(script="hello", voice_id=client.list_voices()[0].id))
    assert job.endpoint == "jobs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rate_limit@POST /v2/generate x2", {"kind": "rate_limit", "target": "POST /v2/generate", "times": 2}),
        ("webhook_lost@webhook", {"kind": "webhook_lost", "target": "webhook", "times": 1}),
        (
            "server_error@* /v2/* x*:status=502",
            {"kind": "server_error", "target": "* /v2/*", "times": None, "status": 502},
        ),
        ("fail@generation:error_code=bad_face", {"kind": "fail", "target": "generation", "error_code": "bad_face"}),
    ],
)
def test_fault_rules_parse_from_the_command_line_form(text: str, expected: dict[str, object]) -> None:
    rule = FaultRule.parse(text)
    assert {key: getattr(rule, key) for key in expected} == expected


def test_an_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        FaultRule.parse("meteor@*")


def test_the_api_key_never_appears_in_what_a_failed_call_shows(emulator: EmulatorServer) -> None:
    with fast_client(emulator) as client, pytest.raises(SyncApiError) as caught:
        client.delete_voice("nope")
    assert emulator.config.api_key not in f"{caught.value} {caught.value!r} {client!r}"
