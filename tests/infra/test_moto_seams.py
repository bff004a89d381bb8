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
    assert len(targets) == 11
    moto_seams.install()
    moto_seams.install()  # idempotent: the originals are kept once
    sfn_task: Any = targets[moto_seams.SFN_REQUEST]
    assert sfn_task._normalise_parameters is moto_seams._sfn_request  # startExecution speaks boto3's names
    assert sfn_task._normalise_response is moto_seams._sfn_response
    assert sfn_task._build_sync2_resolver is moto_seams._sync2_resolver  # .sync:2 hears the execution's end
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


def test_moto_parses_each_jsonpath_once_and_shares_one_client_per_service() -> None:
    from revoice_local.stack import moto_seams

    modules = moto_seams.name_targets()
    assert len(modules) == 6
    moto_seams.install()
    for seam in moto_seams.JSONPATH_PARSE:
        parse = getattr(modules[seam], seam[1])
        assert parse("$.job.voice") is parse("$.job.voice")
        assert [m.value for m in parse("$.job.voice").find({"job": {"voice": "v1"}})] == ["v1"]
    client_for = getattr(modules[moto_seams.LAMBDA_CLIENT], moto_seams.LAMBDA_CLIENT[1])
    client = client_for(region="us-east-1", service="lambda")
    assert client_for(region="us-east-1", service="lambda") is client
    assert client.meta.config.max_pool_connections == moto_seams.CLIENT_POOL
    assert client.meta.config.retries["total_max_attempts"] == 1  # moto's own settings: the ASL retries
    sfn_client_for = getattr(modules[moto_seams.SFN_CLIENT], moto_seams.SFN_CLIENT[1])
    assert sfn_client_for(region="us-east-1", service="stepfunctions") is client_for(
        region="us-east-1", service="stepfunctions"
    )


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


def test_an_update_expression_is_parsed_once_and_every_caller_gets_a_tree_of_its_own() -> None:
    from moto.dynamodb.exceptions import InvalidUpdateExpression
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import Validator

    from revoice_local.stack import moto_seams

    moto_seams.install()
    expression = "SET #status = :status, #history = list_append(if_not_exists(#history, :empty), :entry) REMOVE #lease"
    original = moto_seams._originals[moto_seams.UPDATE_PARSE](expression)
    first, second = UpdateExpressionParser.make(expression), UpdateExpressionParser.make(expression)
    assert first is not second  # a caller may change its tree (the validator replaces placeholders in its copy)
    assert _shape(first) == _shape(second) == _shape(original)
    assert moto_seams._parsed_update.cache_info().hits >= 1
    copied = moto_seams.tree_copy(first)
    assert copied is not first
    assert _shape(copied) == _shape(first)
    assert copied.children[0] is not first.children[0]
    assert Validator.__init__.__globals__["deepcopy"] is moto_seams.tree_copy
    with pytest.raises(InvalidUpdateExpression):  # a bad expression is refused every time, never kept
        UpdateExpressionParser.make("SET = oops")
    with pytest.raises(InvalidUpdateExpression):
        UpdateExpressionParser.make("SET = oops")


def _backend_with_table(name: str) -> Any:
    """moto's DynamoDB backend itself, with the seams: no server, no IAM, no reset of the process's others."""
    from moto.dynamodb.models import DynamoDBBackend

    from revoice_local.stack import moto_seams

    moto_seams.install()
    backend = DynamoDBBackend("us-east-1", "111122223333")
    backend.create_table(
        name,
        schema=[{"AttributeName": "id", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "id", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=None,
        warm_throughput=None,
    )
    return backend


def test_the_table_takes_updates_with_a_kept_expression_as_it_did_before() -> None:
    """Through moto's backend itself: no server, no IAM, and no reset of the process's other backends."""
    backend = _backend_with_table("t")
    expression = "SET #n = if_not_exists(#n, :zero) + :one, #log = list_append(if_not_exists(#log, :empty), :entry)"
    for entry in ("a", "b", "c"):
        backend.update_item(
            "t",
            {"id": {"S": "k"}},
            expression,
            {"#n": "count", "#log": "log"},
            {":zero": {"N": "0"}, ":one": {"N": "1"}, ":empty": {"L": []}, ":entry": {"L": [{"S": entry}]}},
        )
    item = backend.get_item("t", {"id": {"S": "k"}})
    assert item is not None
    assert item.to_json()["Attributes"] == {
        "id": {"S": "k"},
        "count": {"N": "3"},
        "log": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]},
    }


def test_moto_keeps_the_models_it_still_uses_and_frees_the_rest() -> None:
    """Two copies of the item every UpdateItem makes, and an S3 key overwritten, were kept for good in
    their class's ``instances_tracked``; now only what is still referred to is in it."""
    import gc

    from moto.dynamodb.models.dynamo_type import Item
    from moto.s3.models import FakeKey

    from revoice_local.stack import moto_seams

    backend = _backend_with_table("tracked")
    for n in range(50):
        backend.update_item("tracked", {"id": {"S": "k"}}, "SET n = :n", {}, {":n": {"N": str(n)}})
    gc.collect()
    stored = backend.get_item("tracked", {"id": {"S": "k"}})
    tracked = list(getattr(Item, moto_seams.TRACKED))
    assert any(item is stored for item in tracked)  # moto's reset and dashboard still find what is in use
    assert len([item for item in tracked if item.hash_key.value == "k"]) <= 2  # not 50 copies and more

    kept = FakeKey("kept", b"kept", "111122223333", "us-east-1")
    FakeKey("overwritten", b"x" * 1024, "111122223333", "us-east-1")  # a key no bucket holds any more
    gc.collect()
    keys = list(getattr(FakeKey, moto_seams.TRACKED))
    assert kept in keys
    assert "overwritten" not in [key.name for key in keys]
    kept.dispose()


def _shape(node: Any) -> Any:
    """A parsed expression as plain values, to compare two trees (a node's parent is the tree above it)."""
    if isinstance(node, list):
        return [_shape(child) for child in node]
    if hasattr(node, "__dict__"):
        return (type(node).__name__, {key: _shape(value) for key, value in vars(node).items() if key != "parent"})
    return node


def test_an_accounts_backend_is_found_without_the_global_lock_once_it_is_there() -> None:
    from moto.core import responses
    from moto.core.base_backend import BackendDict
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    from revoice_local.stack import moto_seams

    moto_seams.install()
    assert BackendDict._create_account_specific_backend is moto_seams._account_backend
    backends = BackendDict(DynamoDBBackend, "dynamodb")
    first = backends["111122223333"]
    assert backends in BackendDict._instances  # type: ignore[misc] # registered as moto does, so that reset finds it
    assert backends["111122223333"] is first
    backends.clear()  # what BackendDict.reset does to each dict (not called here: it resets every service)
    BackendDict._instances.remove(backends)  # type: ignore[misc]
    assert backends["111122223333"] is not first  # the next request after a reset makes a new one
    assert backends in BackendDict._instances  # type: ignore[misc] # and registers it again
    method_names = getattr(responses, moto_seams.METHOD_NAMES[1])  # the name moto's call_action looks up
    assert "update_item" in method_names(DynamoHandler)
    assert method_names(DynamoHandler) is method_names(DynamoHandler)


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


def test_an_ended_executions_history_is_packed_and_read_back_whole_through_moto() -> None:
    """moto reads a history by deep-copying its event manager's list: the packed one unpacks there."""
    import threading
    import types

    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    from revoice_local.stack import moto_seams

    manager = EventManager()
    events = [{"id": n, "type": "PassStateEntered", "stateEnteredEventDetails": {"input": "{}"}} for n in (1, 2)]
    getattr(manager, moto_seams.HISTORY).extend(events)
    execution = types.SimpleNamespace(
        exec_worker=types.SimpleNamespace(env=types.SimpleNamespace(event_manager=manager))
    )
    moto_seams.pack_history(execution)
    assert isinstance(getattr(manager, moto_seams.HISTORY), moto_seams.PackedHistory)
    moto_seams.install()  # moto's event manager copies with the JSON copy, as in the local stack
    assert manager.get_event_history() == events
    assert manager.get_event_history() is not manager.get_event_history()
    moved = types.SimpleNamespace(_mutex=threading.Lock())
    with pytest.raises(RuntimeError, match="no longer keeps its events"):
        moto_seams.pack_history(
            types.SimpleNamespace(exec_worker=types.SimpleNamespace(env=types.SimpleNamespace(event_manager=moved)))
        )


def test_the_interpreters_ended_threads_are_dropped_from_the_list_moto_never_reads() -> None:
    import threading

    from moto.stepfunctions.parser import utils

    from revoice_local.stack import moto_seams

    release = threading.Event()
    ended, waiting = threading.Thread(target=lambda: None), threading.Thread(target=release.wait)
    ended.start()
    ended.join()
    waiting.start()
    utils.TMP_THREADS.extend([ended, waiting])
    try:
        moto_seams.drop_ended_threads()
        assert ended not in utils.TMP_THREADS
        assert waiting in utils.TMP_THREADS
    finally:
        release.set()
        waiting.join()
        moto_seams.drop_ended_threads()


def test_a_started_executions_check_runs_when_it_ends_not_on_moto_s_half_second_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``startExecution.sync:2``: the check (DescribeExecution) runs once the execution is heard to end."""
    import threading
    import types

    from revoice_local.stack import moto_seams

    arn = "arn:aws:states:us-east-1:123456789012:execution:jobs:line-1"
    checks: list[str] = []
    answers = iter([None, {"status": "SUCCEEDED"}])

    def original(*_: Any) -> Any:
        def check() -> Any:
            checks.append("described")
            return next(answers)

        return check

    monkeypatch.setitem(moto_seams._originals, moto_seams.SFN_SYNC, original)
    monkeypatch.setattr(moto_seams, "CHILD_END_WAIT", 30.0)  # a test that waited for it would take 30 s
    env = types.SimpleNamespace(stack=[{"ExecutionArn": arn}])
    resolver = moto_seams._sync2_resolver(None, env, None, None, None)
    done: list[Any] = []
    waiting = threading.Thread(target=lambda: done.append(resolver()))
    waiting.start()
    moto_seams._child_ended(arn)  # the interpreter's report of the execution's end
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert checks == ["described"]
    assert done == [None]
    assert resolver() == {"status": "SUCCEEDED"}  # heard once: later checks run at once too
    assert arn not in moto_seams._child_ends  # nothing kept once the execution's end was read
    with pytest.raises(RuntimeError, match="no longer finds StartExecution's answer"):
        moto_seams._sync2_resolver(None, types.SimpleNamespace(stack=[]), None, None, None)
