"""How a job waiting on a task token is answered: a finished generation or a hand-over's generation as the
task's output, a wake-up without one as the error the state machine catches into asking again."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from revoice.aws.stepfunctions import WOKEN_WITHOUT_A_GENERATION, TaskTokens
from revoice.pipeline.contract import WOKEN_TO_ASK


def _tokens() -> tuple[TaskTokens, Stubber]:
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return TaskTokens(client), Stubber(client)


def test_a_job_handed_its_generation_wakes_with_it_as_the_tasks_output() -> None:
    tokens, stub = _tokens()
    generation = {"id": "gen-1", "status": "PENDING", "handedOver": True}
    stub.add_response("send_task_success", {}, {"taskToken": "t", "output": json.dumps(generation)})
    with stub:
        assert tokens.wake("t", generation)
    stub.assert_no_pending_responses()


def test_a_job_woken_without_a_generation_is_sent_the_error_it_asks_again_on() -> None:
    tokens, stub = _tokens()
    stub.add_response(
        "send_task_failure", {}, {"taskToken": "t", "error": WOKEN_TO_ASK, "cause": WOKEN_WITHOUT_A_GENERATION}
    )
    with stub:
        assert tokens.wake("t")
    stub.assert_no_pending_responses()


def test_a_token_no_one_waits_on_any_more_answers_false() -> None:
    tokens, stub = _tokens()
    stub.add_client_error("send_task_failure", "TaskTimedOut")
    stub.add_client_error("send_task_success", "InvalidToken")
    with stub:
        assert not tokens.wake("t")
        assert not tokens.resume("t", {"id": "gen-1"})
