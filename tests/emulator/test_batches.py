"""The Batch API through the client: the plan's 402, whole-file validation, dry runs, the batch limit's 429,
a batch's run outside the plan's concurrency, its results behind a redirect, and its signed webhook."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from revoice.sync import SyncApiError, SyncClient
from revoice.sync.models import Batch, BatchRequest, GenerateRequest, MediaInput, TextInput, TtsProvider
from revoice.sync.webhook import verify
from revoice_local.emulator.server import EmulatorServer
from tests.conftest import Receiver, Samples, fast_client, upload
from tests.waiting import wait_until

SMALL = {"plan": "scale", "batch_min_requests": 2, "batch_max_requests": 4}


def _requests(client: SyncClient, samples: Samples, n: int, **payload: object) -> list[BatchRequest]:
    video = upload(client, samples.video)
    audio = upload(client, samples.audio, "audio/wav", "AUDIO")
    request = GenerateRequest(
        input=[MediaInput(type="video", asset_id=video.id), MediaInput(type="audio", url=audio.url)], **payload
    )
    return [BatchRequest(request_id=f"line-{i}", payload=request) for i in range(n)]


def _ended(client: SyncClient, batch_id: str) -> Batch:
    def ended() -> list[Batch]:
        batch = client.get_batch(batch_id)
        return [batch] if batch.finished else []

    return wait_until(ended, what="the batch's end", within=30)[0]


def test_plans_without_the_batch_api_answer_402(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(plan="growth", batch_min_requests=1)
    with fast_client(emulator) as client, pytest.raises(SyncApiError) as refused:
        client.create_batch(_requests(client, samples, 1))
    assert (refused.value.status_code, refused.value.error_code) == (402, "batch_not_available")


def test_a_batch_runs_its_generations_past_the_plan_concurrency_and_reports_each_one(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples, receiver: Receiver
) -> None:
    emulator = emulator_factory(**SMALL, concurrency=1, batch_parallelism=3)
    with fast_client(emulator) as client:
        batch = client.create_batch(_requests(client, samples, 3), webhook_url=receiver.url)
        assert (batch.status, batch.metrics.total_generations, batch.output_url) == ("PENDING", 3, "")
        done = _ended(client, batch.id)
        results = client.batch_results(done)
        listed = client.list_batches(status="COMPLETED")
        generations = [client.get_generation(str(row.generation_id)) for row in results]
    assert done.status == "COMPLETED"
    assert (done.metrics.success_count, done.metrics.failed_count, done.metrics.pending_count) == (3, 0, 0)
    assert [row.request_id for row in results] == ["line-0", "line-1", "line-2"]
    assert all(g.status == "COMPLETED" and g.output_url for g in generations)
    assert emulator.emulator.max_in_flight == 0  # none of them counted against the plan's one slot
    assert [b.id for b in listed] == [batch.id]
    # The API's outputUrl redirects to the signed file, which the client reads through storage.
    redirect = httpx.get(str(done.output_url), headers={"x-api-key": emulator.config.api_key})
    assert redirect.status_code == 302
    assert "signature=" in redirect.headers["location"]
    wait_until(lambda: receiver.received, what="the batch's webhook")
    delivery = receiver.received[0]
    verify({k.lower(): v for k, v in delivery["headers"].items()}, delivery["body"], emulator.config.webhook_secret)
    assert delivery["json"]["metrics"]["successCount"] == 3


def test_a_bad_line_refuses_the_whole_batch_naming_every_line(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(**SMALL)
    with fast_client(emulator) as client:
        good = _requests(client, samples, 2)
        unknown_voice = GenerateRequest(
            input=[
                good[0].payload.input[0],
                TextInput(provider=TtsProvider(voice_id="no-such-voice", script="Hello there.")),
            ]
        )
        bad = [*good, BatchRequest(request_id="line-0", payload=unknown_voice)]
        with pytest.raises(SyncApiError) as refused:
            client.create_batch(bad)
        with pytest.raises(SyncApiError) as too_many:
            client.create_batch(_requests(client, samples, 5))
        assert client.create_batch(good, dry_run=True).status == "VALIDATED"
        assert client.list_batches() == []  # neither refusal nor the dry run started anything
    assert refused.value.error_code == "batch_input_validation_failed"
    assert "line 3: request_id line-0 is used twice" in refused.value.message
    assert "line 3: voice_not_found" in refused.value.message
    assert "2-4 requests; this one 5" in too_many.value.message


def test_past_the_batch_limit_the_next_batch_gets_429_and_no_retry(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(**SMALL, batch_concurrency=1, time_scale=0.2)  # the first runs for 2 s
    with fast_client(emulator) as client:
        requests = _requests(client, samples, 2)
        first = client.create_batch(requests)
        with pytest.raises(SyncApiError) as refused:
            client.create_batch(requests)
        wait_until(lambda: client.get_batch(first.id).finished, what="the first batch's end", within=30)
        second = client.create_batch(requests)
    assert (refused.value.status_code, refused.value.error_code) == (429, "concurrency_limit_reached")
    assert "Batch concurrency limit reached" in refused.value.message
    assert emulator.emulator.errors_answered["concurrency_limit_reached"] == 1  # sent once: a batch is not retried
    assert second.status == "PENDING"


def test_an_input_over_the_batch_limit_gets_a_row_without_a_generation(
    emulator_factory: Callable[..., EmulatorServer], samples: Samples
) -> None:
    emulator = emulator_factory(**SMALL, batch_max_input_seconds=1)
    with fast_client(emulator) as client:
        batch = client.create_batch(_requests(client, samples, 2))
        done = _ended(client, batch.id)
        results = client.batch_results(done)
    assert done.status == "FAILED"
    assert done.metrics.failed_count == 2
    assert {(row.generation_id, row.error_code) for row in results} == {(None, "batch_input_duration_exceeded")}
