"""Completion callbacks through the local stack: the emulator's signed webhooks reach the webhook
handler over real HTTP (the local HTTP API relay) and resume the waiting execution."""

from __future__ import annotations

import json

import pytest

from revoice.sync.webhook import sign
from revoice_local.emulator.config import FaultRule
from revoice_local.stack.stack import LocalStack
from tests.e2e.conftest import Jobs, post_webhook
from tests.waiting import wait_until

LINE = "A line for the webhook tests."


def test_a_webhook_resumes_the_job_with_fewer_transitions_than_polling(stack: LocalStack, jobs: Jobs) -> None:
    stack.emulator.emulator.config.processing_seconds = 40  # 2 s at the test time scale
    hooked = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    polled = jobs.run({"source": jobs.put_video("speaker"), "script": LINE, "callback": False})
    assert hooked.result is not None
    assert polled.result is not None
    webhook_transitions = stack.state_transitions(hooked.job_id)
    polling_transitions = stack.state_transitions(polled.job_id)
    print(f"\nstate transitions: webhook {webhook_transitions}, polling {polling_transitions}")
    assert webhook_transitions < polling_transitions
    assert hooked.result["generation"]["polls"] == 0
    assert polled.result["generation"]["polls"] >= 2
    names = [e["type"] for e in stack.history(hooked.job_id)]
    assert "TaskSucceeded" in names


def test_a_lost_webhook_falls_back_to_polling_and_still_completes(stack: LocalStack, jobs: Jobs) -> None:
    stack.emulator.emulator.faults.replace([FaultRule(target="webhook", kind="webhook_lost", times=None)])
    stack.emulator.emulator.config.processing_seconds = 40
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.result is not None
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in stack.history(end.job_id) if e["type"].endswith("StateEntered")
    ]
    assert "Wait for callback" in entered
    assert "Check lip-sync" in entered


@pytest.mark.parametrize("kind", ["webhook_duplicate", "webhook_reorder"])
def test_duplicated_and_reordered_webhooks_change_nothing(stack: LocalStack, jobs: Jobs, kind: str) -> None:
    # Every webhook (a rule for one would go to whichever generation ends first, perhaps an earlier test's).
    stack.emulator.emulator.faults.replace([FaultRule(target="webhook", kind=kind, delay=0.3, times=None)])
    stack.emulator.emulator.config.processing_seconds = 40
    first = jobs.drop_manifest({"source": jobs.put_video("speaker"), "script": LINE}, name="one")
    second = jobs.drop_manifest({"source": jobs.put_video("presenter"), "script": LINE}, name="two")
    generations = set()
    for key in (first, second):
        end = stack.wait_for_job(jobs.job_id(key))
        assert end.status == "SUCCEEDED"
        assert end.result is not None
        assert jobs.keys(f"failed/{end.job_id}/") == []
        generations.add(end.result["generation"]["id"])
    log = stack.emulator.emulator.webhook_log  # the org's, with other tests' deliveries (lost ones among them)
    sent = 4 if kind == "webhook_duplicate" else 2

    def these() -> list[dict[str, object]]:
        return [d for d in log if d.get("generation") in generations]  # a batch's have none

    wait_until(lambda: len(these()) >= sent, what=f"{sent} webhook deliveries")
    # A delivery the loaded machine answered too late is a lost webhook (polling covers it); one answered
    # with an error would mean the API refused a duplicate or a late webhook.
    assert [d for d in these() if "answer" in d and not d["delivered"]] == [], these()


def test_a_verified_webhook_for_an_unknown_or_running_generation_is_a_harmless_2xx(stack: LocalStack) -> None:
    secret = stack.emulator.config.webhook_secret
    for status, outcome in (("COMPLETED", "stored"), ("PROCESSING", "not_terminal")):
        body = json.dumps({"id": f"gen-unknown-{status}", "status": status, "error_code": None}).encode()
        answer = post_webhook(stack, body, {"X-Signature-Primary": sign(body, secret)})
        assert (answer.status_code, answer.json()["outcome"]) == (200, outcome)


def test_a_webhook_that_arrives_before_the_job_waits_is_not_lost(stack: LocalStack, jobs: Jobs) -> None:
    stack.emulator.emulator.config.processing_seconds = 0
    stack.emulator.emulator.config.pending_seconds = 0
    end = jobs.run({"source": jobs.put_video("speaker"), "script": LINE})
    assert end.status == "SUCCEEDED"
    assert stack.state_transitions(end.job_id) < 20


def test_with_webhooks_off_the_route_refuses_even_a_correctly_signed_request(stack: LocalStack) -> None:
    """SyncWebhookSecret=none leaves no secret (there used to be a public constant anyone could sign with)."""
    env = dict(stack.plan.functions["WebhookFunction"].environment)
    del env["SYNC_WEBHOOK_SECRET_ARN"]
    body = json.dumps({"id": "gen-anything", "status": "COMPLETED", "error_code": None}).encode()
    with stack.configured("WebhookFunction", Environment={"Variables": env}):
        for secret in (stack.emulator.config.webhook_secret, "webhooks-off"):
            answer = post_webhook(stack, body, {"Sync-Signature": sign(body, secret)})
            assert (answer.status_code, answer.json()["message"]) == (403, "completion webhooks are off for this stack")
