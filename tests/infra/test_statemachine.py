"""The ASL and the code share one contract: names the state machine uses exist in the code, and back."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

import revoice.pipeline
import revoice.sync
from revoice.pipeline.contract import WOKEN_TO_ASK, GivenUp, LipsyncOperation, Step
from revoice.pipeline.errors import StepError, parse_error_message
from revoice.pipeline.state import JobState
from revoice_local import statemachine

ASL = json.loads(statemachine.ASL_FILE.read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
NOT_STEPS_OF_THE_MACHINE = {Step.QUEUED, Step.INGEST, Step.DONE}  # before the execution starts, or its end


def _all(kind: str) -> Iterator[Any]:
    for state in STATES.values():
        yield from state.get(kind, [])


def test_the_asl_file_is_what_the_builder_writes() -> None:
    assert statemachine.ASL_FILE.read_text() == statemachine.text(), (
        "infra/statemachine/revoice.asl.json is generated: run python -m revoice_local.statemachine --write"
    )


def _step_errors() -> set[str]:
    """Every StepError class the domain and the client define (handlers define none; they raise these)."""
    for package in (revoice.pipeline, revoice.sync):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found, todo = set(), [StepError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_a_retry_rule_names_is_a_class_the_code_raises_and_every_class_has_a_rule() -> None:
    named = {name for rule in _all("Retry") for name in rule["ErrorEquals"]}
    ours = {name for name in named if not name.startswith(("States.", "Lambda.")) and name != WOKEN_TO_ASK}
    classes = _step_errors()
    assert ours == classes, f"named in the ASL only: {ours - classes}; raised by the code only: {classes - ours}"


def test_every_task_of_a_step_function_has_the_same_retry_rules() -> None:
    tasks = [s for s in STATES.values() if s["Type"] == "Task" and "Catch" in s]
    assert len(tasks) == 10
    for state in tasks:
        caught = state["Catch"][0]["ErrorEquals"] if state["Resource"].endswith(".waitForTaskToken") else None
        attempts = state["Retry"][2]["MaxAttempts"]
        assert state["Retry"] == statemachine.retry(transient_attempts=attempts, not_retried=caught)


def test_the_steps_the_state_machine_fails_in_are_the_steps_the_code_names() -> None:
    recorded = {STATES[name]["Result"] for name in STATES if STATES[name].get("ResultPath") == "$.failedStep"}
    assert recorded == {step.value for step in Step} - NOT_STEPS_OF_THE_MACHINE
    caught_into = {catch["Next"] for catch in _all("Catch")}
    assert {name for name in STATES if STATES[name].get("ResultPath") == "$.failedStep"} == caught_into - {
        "Start lip-sync",
        "Wait for lip-sync",
    }


def _resolves(json_path: str, model: type[BaseModel] = JobState) -> bool:
    """Whether ``$.a.b`` names a field of the job state as it is on the wire."""
    current: type[BaseModel] | None = model
    for alias in json_path.removeprefix("$.").split("."):
        by_alias = dict(statemachine.wire_fields(current).values()) if current else {}
        if alias not in by_alias:
            return False
        current = by_alias[alias]
    return True


def _state_paths() -> Iterator[str]:
    for state in STATES.values():
        for choice in state.get("Choices", []):
            yield choice["Variable"]
        for key in ("SecondsPath", "TimeoutSecondsPath"):
            if key in state:
                yield state[key]
        for written in [state, *state.get("Catch", [])]:
            if written.get("ResultPath") is not None:
                yield written["ResultPath"]


@pytest.mark.parametrize("json_path", sorted(set(_state_paths())))
def test_every_path_the_asl_reads_or_writes_is_a_field_of_the_job_state(json_path: str) -> None:
    assert _resolves(json_path), f"{json_path} is not a field of JobState"


def test_a_path_to_a_field_that_does_not_exist_is_refused_by_the_builder() -> None:
    with pytest.raises(KeyError, match="no field 'pollz'"):
        statemachine.path("config", "pollz")
    assert not _resolves("$.config.pollz")


def test_the_choice_states_read_only_booleans_the_code_computes() -> None:
    choices = [choice for state in STATES.values() for choice in state.get("Choices", [])]
    assert choices
    assert all(set(choice) == {"Variable", "BooleanEquals", "Next"} for choice in choices)


def test_the_lipsync_function_is_told_each_of_its_operations_by_name() -> None:
    payloads = [
        s["Parameters"]["Payload"]
        for s in STATES.values()
        if s.get("Parameters", {}).get("FunctionName") == (statemachine.STEP_FUNCTIONS[Step.LIPSYNC])
    ]
    assert {p["operation"] for p in payloads} == {op.value for op in LipsyncOperation}


def test_each_wait_the_state_machine_gives_up_on_fails_with_a_code_the_recorder_reads() -> None:
    passes = {s["Result"]["Error"]: s["Result"]["Cause"] for s in STATES.values() if isinstance(s.get("Result"), dict)}
    assert set(passes) == {given_up.value for given_up in GivenUp}
    for cause in passes.values():
        code, reason = parse_error_message(cause)
        assert code is not None
        assert re.fullmatch(r"[a-z_]+", code)
        assert reason
