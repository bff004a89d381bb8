"""Executions and task tokens on Step Functions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from revoice.aws import error_code
from revoice.pipeline.contract import WOKEN_TO_ASK

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

CLOSED_TOKEN = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
WOKEN_WITHOUT_A_GENERATION = "a generation slot is free or was passed to this job; it asks for its generation itself"


class StepFunctionsExecutions:
    """Starts one execution per job, named by the job id, so a duplicate start changes nothing."""

    def __init__(self, state_machine_arn: str, client: SFNClient) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = client

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """The new execution's ARN, or None when an execution of that name already exists."""
        try:
            answer = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise
        return answer["executionArn"]

    def arn_of(self, name: str) -> str:
        """The ARN an execution of this state machine named ``name`` has (or will have)."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


class TaskTokens:
    """Hands a finished generation back to the execution waiting on a task token."""

    def __init__(self, client: SFNClient) -> None:
        self._sfn = client

    def resume(self, token: str, generation: dict[str, Any]) -> bool:
        """True if the execution was waiting; False when the token was already used or expired."""
        return _answered(lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(generation)))

    def wake(self, token: str, generation: dict[str, Any] | None = None) -> bool:
        """Wake an execution waiting for a generation slot, with the generation a hand-over started for it
        (or without: it asks for its slot and generation itself); False if it stopped waiting."""
        if generation is not None:
            return self.resume(token, generation)
        return _answered(
            lambda: self._sfn.send_task_failure(taskToken=token, error=WOKEN_TO_ASK, cause=WOKEN_WITHOUT_A_GENERATION)
        )


def _answered(send: Callable[[], object]) -> bool:
    """True once the task token's answer was taken; False when the token was already used or expired."""
    try:
        send()
    except ClientError as exc:
        if error_code(exc) in CLOSED_TOKEN:
            return False
        raise
    return True
