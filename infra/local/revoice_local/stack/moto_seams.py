"""Where the local stack reaches into moto for atomicity, speed and events (beside the Lambda and IAM seams).

- **DynamoDB's atomic writes.** moto checks a ``ConditionExpression`` and then writes without a lock, so
  two threads can both pass the same condition; DynamoDB does the two atomically, and revoice relies on
  that (the generation-slot lease, voice holds, job claims). One lock around moto's DynamoDB handler
  serialises exactly its work on the table, after the request was read and dispatched.
- **One parse per definition.** moto parses the ASL (ANTLR) on every StartExecution and builds its
  evaluation components from the tree. Neither changes for a definition, so both are made once; the
  components carry per-run state in some kinds of state, so every execution gets its own copy of them,
  unpickled (2.5 ms, against 31-46 ms to build them again on an idle core; in a 60-job batch the main
  process's CPU time fell by 1-2 s of 35 s).
- **Dispatch once per service.** moto's server finds the backend for every request under one lock, by
  listing its modules and checking directories; a signed request's service and region (its credential
  scope) always lead to the same backend, so that answer is kept per scope.
- **Execution ends as events.** moto's interpreter reports an execution's end to its communication
  object; listeners hear of it there (the EventBridge stand-in), instead of polling ListExecutions.
- **Events put on a bus, to the functions.** moto matches ``PutEvents`` against its rules and delivers to
  SQS, logs and other buses, but not to Lambda; listeners hear each accepted entry, and the EventBridge
  stand-in delivers the ones the template's function rules match (as Lambda's asynchronous invocation).
- **One JSONPath parse per path.** moto builds a PLY parser (its tables, its lexer rules by reflection)
  for every ``$.path`` it evaluates: a quarter of the interpreter's time in a 60-job batch. A parsed
  path is an immutable tree that ``find`` only reads, so each path is parsed once.
- **One client per service, region and server.** moto's interpreter makes a new boto3 client for every Lambda task
  and every ``states:startExecution`` (botocore's client creation is a tenth of the local stack's CPU in a
  batch). boto3 clients are thread-safe; one per service, region and moto server, with moto's own settings
  and a pool as large as the executions that may call it at once, serves them all.

- **JSON copied as JSON.** moto's interpreter deep-copies the state's input, its output, a task's
  parameters and the context object with ``copy.deepcopy`` several times at every state (a fifth of the
  main process's CPU in a 60-job batch, as a profiler, yappi, counted it). Those values are JSON:
  rebuilding their dicts and lists and sharing their immutable scalars is the same copy, four times
  faster; anything else is deep-copied as before.

- **Step Functions calling Step Functions.** moto's ``states:startExecution`` integration (what a campaign's
  Map runs each line with) hands boto3 the ASL's ``StateMachineArn``/``Name``/``Input`` as they are, and
  reads ``ExecutionArn`` and ``Status`` from boto3's camelCase answer: both fail (moto 5.2.5 kept the
  request and response normalisers of the code it took from LocalStack, but not their use). The seam
  normalises the request and the answer with botocore's own model of the two operations, as Step
  Functions does. moto then learns of the started execution's end (``.sync:2``) by describing it every
  0.5 s, with a new boto3 client for each line: the seam checks when the execution ends (heard from the
  interpreter, as the EventBridge stand-in hears it) or after ``CHILD_END_WAIT``, with the interpreter's
  one shared client, so a campaign's line leaves the Map when it ends, not up to half a second later.

- **Request overhead moto pays again and again.** Every request finds an account's backend through
  ``BackendDict.__getitem__``, which takes a global lock and compares the dict with every service's dict
  in use (a dozen times per request); once the account's backend is in the dict that answer cannot
  change until ``reset`` empties both, so a present key is answered at once. ``call_action`` lists the
  response class's methods with ``inspect.getmembers`` on every request; a class's methods are kept.
- **One parse per update expression.** DynamoDB's ``UpdateItem`` parses its ``UpdateExpression`` twice per
  request (0.76 ms each on an idle core) and deep-copies the tree to validate it (0.47 ms), all under the
  table lock. The parse of a string is kept pickled, and every caller gets a tree of its own, unpickled (0.08 ms); the
  validator copies its tree by pickle too (0.16 ms), which is the same deep copy for these plain nodes.

- **A finished execution's history, packed.** moto keeps every event of every execution, each state's input
  and output as JSON text in it: about 80 KB of the process's memory a job, most of what a long campaign
  adds after its S3 objects. Once an execution has ended its history only is read, so it is kept pickled and
  compressed (a job's 49 events: 89 KB pickled, 6-7 KB packed, in 0.3-0.4 ms) and unpacked for
  ``GetExecutionHistory`` (moto deep-copies it there anyway).
  moto also appends every thread its interpreter starts (about fifteen a job) to a list it never reads
  (``TMP_THREADS``, kept from LocalStack's code for its shutdown); the ended ones are dropped from it.

- **Every model moto ever made, kept.** ``BaseModel.__new__`` appends each instance to its class's
  ``instances_tracked`` list (read only by moto's dashboard and by S3's reset, which closes the keys' files),
  so nothing moto makes is ever freed: DynamoDB's ``UpdateItem`` deep-copies the item twice (for the
  table's stream and for the answer's old values), about 20 items a campaign line that stayed in memory
  with all their attributes, and an S3 object overwritten kept its bytes (moto disposes of it only on
  reset). The lists hold their instances weakly: whatever moto still uses is there, the rest is freed (an
  overwritten S3 key closes its buffer as it goes).

Each seam is checked by ``seam_targets`` and a test, so a moto upgrade that moves one fails loudly.
"""

from __future__ import annotations

import copy
import importlib
import pickle
import threading
import types
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

DYNAMODB = ("moto.dynamodb.responses", "DynamoHandler", "call_action")
ASL_PARSER = ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser", "parse")
EXECUTION_END = ("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication", "terminated")
DISPATCH = ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication", "get_application")
PUT_EVENTS = ("moto.events.models", "EventsBackend", "put_events")
SFN_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn"
SFN_REQUEST = (SFN_TASK, "StateTaskServiceSfn", "_normalise_parameters")
SFN_RESPONSE = (SFN_TASK, "StateTaskServiceSfn", "_normalise_response")
SFN_SYNC = (SFN_TASK, "StateTaskServiceSfn", "_build_sync2_resolver")
BACKENDS = ("moto.core.base_backend", "BackendDict", "_create_account_specific_backend")
UPDATE_PARSE = ("moto.dynamodb.parsing.expressions", "UpdateExpressionParser", "make")
MODELS = ("moto.core.common_models", "BaseModel", "__new__")
TRACKED = "instances_tracked"  # the class attribute BaseModel.__new__ appends every instance to
SEAMS = (
    DYNAMODB,
    ASL_PARSER,
    EXECUTION_END,
    DISPATCH,
    PUT_EVENTS,
    SFN_REQUEST,
    SFN_RESPONSE,
    SFN_SYNC,
    BACKENDS,
    UPDATE_PARSE,
    MODELS,
)
# Module-level names moto's interpreter calls: (module, name).
JSONPATH_PARSE = (
    ("moto.stepfunctions.parser.asl.utils.json_path", "parse"),
    ("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse"),
)
LAMBDA_CLIENT = ("moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils", "boto_client_for")
SFN_CLIENT = (SFN_TASK, "boto_client_for")
METHOD_NAMES = ("moto.core.responses", "method_names_from_class")
TREE_COPY = ("moto.dynamodb.parsing.validators", "deepcopy")
NAMES = (*JSONPATH_PARSE, LAMBDA_CLIENT, SFN_CLIENT, METHOD_NAMES, TREE_COPY)
# Modules of moto's interpreter whose ``copy.deepcopy`` copies JSON values.
JSON_COPIES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
THREADS = ("moto.stepfunctions.parser.utils", "TMP_THREADS")  # moto's list of its interpreter's threads
HISTORY = "_history_event_list"  # the EventManager's list of an execution's events
CLIENT_POOL = 128  # connections: every execution of a large batch may be in a Lambda (or .sync:2) task at once

CHILD_END_WAIT = 1.0  # seconds: how late a parent stopped meanwhile may notice it (moto's loop then checks it)

_dynamodb_lock = threading.RLock()
_child_ends: dict[str, threading.Event] = {}  # a started execution's ARN: set when it ends
_child_ends_lock = threading.Lock()
_end_listeners: list[Callable[[Any], None]] = []
_event_listeners: list[Callable[[dict[str, Any]], None]] = []
_originals: dict[tuple[str, ...], Any] = {}  # (module, class, method); class is "" for a module name


def seam_targets() -> dict[tuple[str, str, str], type]:
    found = {}
    for module_name, class_name, method in SEAMS:
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if cls is None or not callable(getattr(cls, method, None)):
            raise RuntimeError(f"moto no longer has {module_name}.{class_name}.{method}: pin moto or move the seam")
        found[(module_name, class_name, method)] = cls
    return found


def name_targets() -> dict[tuple[str, str], Any]:
    found = {}
    for module_name, name in NAMES:
        module = importlib.import_module(module_name)
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"moto no longer calls {module_name}.{name}: pin moto or move the seam")
        found[(module_name, name)] = module
    return found


def json_copy_targets() -> list[Any]:
    found = []
    for module_name in JSON_COPIES:
        module = importlib.import_module(module_name)
        if getattr(module, "copy", None) not in (copy, _JSON_COPY):
            raise RuntimeError(f"moto no longer copies with copy.deepcopy in {module_name}: pin moto or move the seam")
        found.append(module)
    return found


_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy of a JSON value: new dicts and lists, the same (immutable) scalars; anything else as
    ``copy.deepcopy`` copies it."""
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _SCALARS else json_copy(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _SCALARS else json_copy(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value, memo)


_JSON_COPY = types.SimpleNamespace(deepcopy=json_copy)


def install() -> None:
    """Idempotent: the seams wrap moto's originals once per process."""
    targets = seam_targets()
    for seam, cls in targets.items():
        _originals.setdefault(seam, getattr(cls, seam[2]))
    targets[DYNAMODB].call_action = _atomic_dynamodb  # type: ignore[attr-defined]
    targets[ASL_PARSER].parse = staticmethod(_parse_once)  # type: ignore[attr-defined]
    targets[EXECUTION_END].terminated = _terminated  # type: ignore[attr-defined]
    targets[DISPATCH].get_application = _dispatch  # type: ignore[attr-defined]
    targets[PUT_EVENTS].put_events = _put_events  # type: ignore[attr-defined]
    targets[SFN_REQUEST]._normalise_parameters = _sfn_request  # type: ignore[attr-defined]
    targets[SFN_RESPONSE]._normalise_response = _sfn_response  # type: ignore[attr-defined]
    targets[SFN_SYNC]._build_sync2_resolver = _sync2_resolver  # type: ignore[attr-defined]
    targets[BACKENDS]._create_account_specific_backend = _account_backend  # type: ignore[attr-defined]
    targets[UPDATE_PARSE].make = classmethod(_update_tree)  # type: ignore[attr-defined]
    targets[MODELS].__new__ = staticmethod(_tracked_weakly)  # type: ignore[assignment]
    # moto's own note that a key it no longer tracks was freed before its reset closed it
    warnings.filterwarnings("ignore", "S3 key was not disposed of in time", ResourceWarning)
    modules = name_targets()
    for (module_name, name), module in modules.items():
        _originals.setdefault((module_name, "", name), getattr(module, name))
    for module_name, name in JSONPATH_PARSE:
        parse = _originals[(module_name, "", name)]
        setattr(modules[(module_name, name)], name, lru_cache(maxsize=1024)(parse))
    setattr(modules[LAMBDA_CLIENT], LAMBDA_CLIENT[1], _shared_client)
    setattr(modules[SFN_CLIENT], SFN_CLIENT[1], _shared_client)
    method_names = _originals[(METHOD_NAMES[0], "", METHOD_NAMES[1])]
    setattr(modules[METHOD_NAMES], METHOD_NAMES[1], lru_cache(maxsize=None)(method_names))
    setattr(modules[TREE_COPY], TREE_COPY[1], tree_copy)
    for module in json_copy_targets():
        module.copy = _JSON_COPY


@lru_cache(maxsize=8)
def _sfn_operation(action: str) -> Any:
    """botocore's model of a Step Functions operation, by the snake_case name moto's task uses."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("stepfunctions")
    names = {name.lower(): name for name in model.operation_names}
    return model.operation_model(names[action.replace("_", "").lower()])


def _sfn_request(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    _originals[SFN_REQUEST](self, parameters, boto_service_name, service_action_name)
    operation = _sfn_operation(service_action_name or self._get_boto_service_action())
    self._to_boto_request(parameters, operation.input_shape)


def _sfn_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    operation = _sfn_operation(service_action_name or self._get_boto_service_action())
    self._from_boto_response(response, operation.output_shape)
    if isinstance(response, dict):
        for key, value in response.items():  # dates as Step Functions puts them in a state: epoch milliseconds
            if isinstance(value, datetime):
                response[key] = int(value.timestamp() * 1000)


def _sync2_resolver(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
) -> Callable[[], Any]:
    """moto's check of a started execution (DescribeExecution), called when that execution ends or after
    ``CHILD_END_WAIT`` seconds, whichever comes first (moto: every 0.5 s)."""
    started = env.stack[-1] if env.stack else None  # what the original pops: StartExecution's answer
    if not isinstance(started, dict) or "ExecutionArn" not in started:
        raise RuntimeError("moto's startExecution.sync:2 no longer finds StartExecution's answer: move the seam")
    execution_arn = str(started["ExecutionArn"])
    with _child_ends_lock:
        ended = _child_ends.setdefault(execution_arn, threading.Event())
    check = _originals[SFN_SYNC](self, env, resource_runtime_part, normalised_parameters, state_credentials)

    def resolver() -> Any:
        ended.wait(CHILD_END_WAIT)
        try:
            answer = check()
        except BaseException:  # the execution failed: moto raises its error to the state
            _forget_child(execution_arn)
            raise
        if answer is not None:
            _forget_child(execution_arn)
        return answer

    return resolver


def _forget_child(execution_arn: str) -> None:
    with _child_ends_lock:
        _child_ends.pop(execution_arn, None)


def _child_ended(execution_arn: str) -> None:
    with _child_ends_lock:
        ended = _child_ends.pop(execution_arn, None)
    if ended is not None:
        ended.set()


def on_execution_end(listener: Callable[[Any], None]) -> None:
    _end_listeners.append(listener)


def remove_listener(listener: Callable[[Any], None]) -> None:
    if listener in _end_listeners:
        _end_listeners.remove(listener)
    if listener in _event_listeners:
        _event_listeners.remove(listener)


def on_event(listener: Callable[[dict[str, Any]], None]) -> None:
    """``listener(entry)`` for every ``PutEvents`` entry moto accepted (the request's own shape)."""
    _event_listeners.append(listener)


def _put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = _originals[PUT_EVENTS](self, events)
    for entry, answer in zip(events, answers, strict=False):
        if "EventId" in answer:
            for listener in list(_event_listeners):
                listener({**entry, "EventId": answer["EventId"]})
    return answers


def _account_backend(self: Any, account_id: str) -> None:
    if not dict.__contains__(self, account_id):  # a key is only ever added by the original, with its registration
        _originals[BACKENDS](self, account_id)


@lru_cache(maxsize=256)
def _parsed_update(expression: str) -> bytes:
    return pickle.dumps(_originals[UPDATE_PARSE](expression), pickle.HIGHEST_PROTOCOL)


def _update_tree(cls: type, expression: str) -> Any:
    """A parse error is raised, not kept: a bad expression is parsed (and refused) every time."""
    return pickle.loads(_parsed_update(expression))  # noqa: S301 -- bytes this process pickled


def tree_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy of a DynamoDB expression tree by pickle; anything else as ``copy.deepcopy`` copies it."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    if isinstance(value, Node):
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 -- just pickled here
    return copy.deepcopy(value, memo)


def _atomic_dynamodb(self: Any) -> Any:
    with _dynamodb_lock:
        return _originals[DYNAMODB](self)


@lru_cache(maxsize=32)
def _tree(definition: str) -> Any:
    return _originals[ASL_PARSER](definition)[1]


@lru_cache(maxsize=32)
def _built(definition: str) -> bytes:
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    return pickle.dumps(Preprocessor().visit(_tree(definition)))


def _parse_once(definition: str) -> tuple[Any, Any]:
    return pickle.loads(_built(definition)), _tree(definition)  # noqa: S301 -- bytes this process pickled


_dispatched: dict[tuple[str, str], Any] = {}


def _dispatch(self: Any, environ: dict[str, Any]) -> Any:
    scope = str(environ.get("HTTP_AUTHORIZATION", "")).partition("Credential=")[2].split("/")
    if len(scope) < 4 or str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        return _originals[DISPATCH](self, environ)
    key = (scope[2], scope[3])  # region, service
    app = _dispatched.get(key)
    if app is None:
        app = _dispatched[key] = _originals[DISPATCH](self, environ)
    return app


_clients: dict[tuple[str, str, str], Any] = {}
_clients_lock = threading.Lock()


def _shared_client(region: str, service: str, state_credentials: Any = None) -> Any:
    from moto.settings import moto_server_port

    key = (region, service, moto_server_port())  # each local stack's server has a port of its own
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _pooled(region, service)
        return client


def _pooled(region: str, service: str) -> Any:
    """A client like the one moto's ``boto_client_for`` makes (its key, endpoint and settings), pooled."""
    import boto3
    from botocore.config import Config

    model = _originals[(LAMBDA_CLIENT[0], "", LAMBDA_CLIENT[1])](region=region, service=service)
    credentials = model._request_signer._credentials
    session: Any = boto3.session.Session()  # the service name is a variable: no overload types it
    return session.client(
        service,
        region_name=region,
        endpoint_url=model.meta.endpoint_url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=model.meta.config.merge(Config(max_pool_connections=CLIENT_POOL)),
    )


class TrackedWeakly:
    """A model class's ``instances_tracked``: what moto reads of its list (append, iterate, len), holding
    each instance weakly. Keyed by id, not a WeakSet: models that define ``__eq__`` (DynamoDB's Item) are
    unhashable. Every model takes a weak reference (BaseModel has no ``__slots__``)."""

    def __init__(self, instances: Iterable[Any] = ()) -> None:
        self._refs: dict[int, weakref.ref[Any]] = {}
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        key = id(instance)  # the callback runs before the object's memory (and so its id) is reused

        def forget(_: weakref.ref[Any]) -> None:
            self._refs.pop(key, None)

        self._refs[key] = weakref.ref(instance, forget)

    def __iter__(self) -> Iterator[Any]:
        alive = [ref() for ref in list(self._refs.values())]
        return iter([instance for instance in alive if instance is not None])

    def __len__(self) -> int:
        return len(self._refs)


def _tracked_weakly(cls: type, *args: Any, **kwargs: Any) -> Any:
    """BaseModel.__new__, with the list it appends to made weak (again after moto's reset, which sets a
    new plain list)."""
    tracked = cls.__dict__.get(TRACKED)
    if not isinstance(tracked, TrackedWeakly):
        setattr(cls, TRACKED, TrackedWeakly(tracked or ()))
    return _originals[MODELS](cls, *args, **kwargs)


class PackedHistory:
    """An ended execution's events, pickled and compressed; ``copy.deepcopy`` (how moto reads them) unpacks
    them. Anything else moto might do with a history (append to it) fails loudly."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._packed = zlib.compress(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL), 1)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = pickle.loads(zlib.decompress(self._packed))  # noqa: S301 -- bytes this process pickled
        return events


def pack_history(execution: Any) -> None:
    env = execution.exec_worker.env
    manager = getattr(env, "event_manager", None)
    if manager is None or not isinstance(getattr(manager, HISTORY, None), list):
        raise RuntimeError(f"moto's event manager no longer keeps its events in {HISTORY}: move the seam")
    with manager._mutex:
        setattr(manager, HISTORY, PackedHistory(getattr(manager, HISTORY)))


def drop_ended_threads() -> None:
    started = getattr(importlib.import_module(THREADS[0]), THREADS[1], None)
    if not isinstance(started, list):
        raise RuntimeError(f"moto no longer keeps its threads in {'.'.join(THREADS)}: move the seam")
    for thread in [thread for thread in started if not thread.is_alive()]:
        started.remove(thread)


def _terminated(self: Any) -> None:
    """Tell whoever waits first (a Map's check, the EventBridge stand-in), then pack: the history's
    mutex keeps a read that comes meanwhile whole."""
    _originals[EXECUTION_END](self)
    _child_ended(str(self.execution.exec_arn))
    for listener in list(_end_listeners):
        listener(self.execution)
    pack_history(self.execution)
    drop_ended_threads()
