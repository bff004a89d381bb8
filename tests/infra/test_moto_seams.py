"""The places the local stack reaches into moto are still where it expects them, and each guard fails
loudly when moto moves one."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from revoice_local.stack import iam, lambda_seam
from revoice_local.stack.template import INFRA

ASL = json.loads((INFRA / "statemachine" / "revoice.asl.json").read_text())


def test_the_moto_seam_the_local_stack_relies_on_is_still_there() -> None:
    cls = lambda_seam.seam_target()
    parameters = list(inspect.signature(cls._invoke_lambda).parameters)
    assert parameters[:2] == ["self", "event"]


def test_the_seam_guard_fails_loudly_if_moto_moves_it() -> None:
    with pytest.raises(RuntimeError, match="moto no longer has"):
        lambda_seam.seam_target(("moto.awslambda.models", "LambdaFunction", "_invoke_lambda_renamed"))


def test_the_moto_iam_seams_the_local_stack_relies_on_are_still_there() -> None:
    """moto checks these services' requests against "*" unless told the resource; and its interpreter
    signs with a key the local stack gives the state machine's role."""
    from moto.iam.access_control import IAMRequest

    targets = iam.seam_targets()
    assert set(targets) == {"lambda", "dynamodb", "stepfunctions", "secretsmanager", "events", "s3"}
    authorize = targets["dynamodb"]._authenticate_and_authorize_normal_action  # type: ignore[attr-defined]
    assert "resource" in inspect.signature(authorize).parameters
    assert list(inspect.signature(IAMRequest.__init__).parameters)[1:] == [
        "account_id",
        "method",
        "path",
        "data",
        "body",
        "headers",
        "action",
    ]
    access_key, secret_key = iam.interpreter_key()
    assert access_key
    assert secret_key


def test_the_moto_seams_for_atomic_writes_one_parse_and_execution_ends_are_still_there() -> None:
    from revoice_local.stack import moto_seams

    targets = moto_seams.seam_targets()
    assert len(targets) == 7
    moto_seams.install()
    moto_seams.install()  # idempotent: the originals are kept once
    sfn_task: Any = targets[moto_seams.SFN_REQUEST]
    assert sfn_task._normalise_parameters is moto_seams._sfn_request  # startExecution speaks boto3's names
    assert sfn_task._normalise_response is moto_seams._sfn_response
    parser: Any = targets[moto_seams.ASL_PARSER]
    definition = json.dumps(ASL).replace("${", "").replace("Arn}", "")
    first, tree = parser.parse(definition)
    second, same_tree = parser.parse(definition)
    assert same_tree is tree  # parsed once
    assert first is not second  # components of its own for every execution (some hold per-run state)
    start, same_start = (program.states.states[program.start_at.start_at_name] for program in (first, second))
    assert start is not same_start
    assert type(start) is type(same_start)
    assert start.name == same_start.name


def test_moto_parses_each_jsonpath_once_and_shares_one_lambda_client() -> None:
    from revoice_local.stack import moto_seams

    modules = moto_seams.name_targets()
    assert len(modules) == 3
    moto_seams.install()
    for seam in moto_seams.JSONPATH_PARSE:
        parse = getattr(modules[seam], seam[1])
        assert parse("$.job.voice") is parse("$.job.voice")
        assert [m.value for m in parse("$.job.voice").find({"job": {"voice": "v1"}})] == ["v1"]
    client_for = getattr(modules[moto_seams.LAMBDA_CLIENT], moto_seams.LAMBDA_CLIENT[1])
    client = client_for(region="us-east-1", service="lambda")
    assert client_for(region="us-east-1", service="lambda") is client
    assert client.meta.config.max_pool_connections == moto_seams.LAMBDA_POOL
    assert client.meta.config.retries["total_max_attempts"] == 1  # moto's own settings: the ASL retries


def test_the_interpreter_copies_json_values_deeply_with_the_json_copy() -> None:
    from datetime import UTC, datetime

    from moto.stepfunctions.parser.asl.eval.states import States

    from revoice_local.stack import moto_seams

    moto_seams.install()
    assert all(module.copy.deepcopy is moto_seams.json_copy for module in moto_seams.json_copy_targets())
    state: dict[str, Any] = {
        "job": {"id": "j1", "lines": [{"n": 1, "ok": True, "cost": 0.5, "note": None}]},
        "when": datetime.now(UTC),
    }
    copied = States._extract(None, state)
    assert copied == state
    copied["job"]["lines"][0]["n"] = 2
    copied["job"]["lines"].append({})
    assert state["job"]["lines"] == [{"n": 1, "ok": True, "cost": 0.5, "note": None}]  # the original is untouched
    assert copied["when"] == state["when"]  # not JSON: deep-copied as copy.deepcopy does


def test_the_seam_guards_fail_loudly_if_moto_moves_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from revoice_local.stack import moto_seams

    monkeypatch.setattr(moto_seams, "SEAMS", (("moto.dynamodb.responses", "DynamoHandler", "no_such_method"),))
    with pytest.raises(RuntimeError, match="moto no longer has"):
        moto_seams.seam_targets()
    monkeypatch.setattr(moto_seams, "NAMES", (("moto.stepfunctions.parser.asl.utils.json_path", "gone"),))
    with pytest.raises(RuntimeError, match="moto no longer calls"):
        moto_seams.name_targets()
    monkeypatch.setattr(moto_seams, "JSON_COPIES", ("moto.stepfunctions.parser.asl.utils.json_path",))
    with pytest.raises(RuntimeError, match="moto no longer copies"):
        moto_seams.json_copy_targets()
