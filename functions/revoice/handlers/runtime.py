"""What the handlers share: each function's settings, validated at import, and the adapters the pipeline's
ports are given, made once per container (the one place that wires ``revoice.aws`` to the pipeline).

Each handler module declares the settings model of its function (the groups below, combined) and loads
it at import, so a missing or malformed variable fails the cold start, loudly, naming the variable,
and a function carries only what it needs. Clients are created on first use and cached, so a handler
only pays for what it touches. The API key comes from Secrets Manager through Powertools Parameters
(cached for five minutes, so a rotated key is picked up without a redeploy) and never reaches a log line.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Self

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from revoice.pipeline.contract import CAMPAIGN_AHEAD, Step
from revoice.pipeline.state import RunConfig

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics, Tracer

    from revoice.pipeline.ports import (
        CallbackStore,
        Executions,
        JobEvents,
        JobRecords,
        ObjectStore,
        Resumer,
        VoiceRegistry,
    )
    from revoice.pipeline.slots import GenerationSlots
    from revoice.sync import SyncClient

logger = Logger()
SECRET_MAX_AGE_SECONDS = 300
PROVISIONED = "provisioned-concurrency"  # Lambda's AWS_LAMBDA_INITIALIZATION_TYPE for provisioned environments


class FunctionSettings(BaseModel):
    """A function's environment: each field is the variable of the same name, upper-cased."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def load(cls) -> Self:
        env = {k.lower(): v for k, v in os.environ.items() if v != ""}  # a blank variable means "not set"
        try:
            settings = cls.model_validate(env)
        except ValidationError as error:
            problems = "; ".join(f"{_variable(e['loc'])}: {e['msg'].lower()}" for e in error.errors())
            raise RuntimeError(f"{cls.__name__}: this function's environment is wrong: {problems}") from None
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == PROVISIONED:
            provision(settings)
        return settings


def _variable(location: tuple[int | str, ...]) -> str:
    """The variable a validation error is about (``run.model`` is ``DEFAULT_MODEL``)."""
    names = [str(part) for part in location]
    if names[:1] == ["run"]:
        names = ["default_model"] if names[1:] == ["model"] else names[1:]
    return "_".join(names).upper()


class Bucket(FunctionSettings):
    jobs_bucket: str


class Jobs(FunctionSettings):
    jobs_table: str


class Voices(FunctionSettings):
    voices_table: str


class Slots(FunctionSettings):
    slots_table: str
    plan_concurrency: int = 6


class Callbacks(FunctionSettings):
    callbacks_table: str


class Machine(FunctionSettings):
    state_machine_arn: str


class Campaigns(FunctionSettings):
    """Where campaigns start (the ingest door and ``POST /jobs`` with lines)."""

    campaign_state_machine_arn: str | None = None
    plan_concurrency: int = 6
    sync_batch: bool = False  # campaigns through sync. labs' Batch API unless their file says otherwise

    @property
    def campaign_concurrency(self) -> int:
        return CAMPAIGN_AHEAD * self.plan_concurrency

    def campaign_machine(self) -> Machine | None:
        """The campaign state machine, for ``executions`` (the handler's own, which tests replace)."""
        if self.campaign_state_machine_arn is None:
            return None
        return Machine(state_machine_arn=self.campaign_state_machine_arn)


class EventBus(FunctionSettings):
    event_bus_name: str = "default"


class RunDefaults(FunctionSettings):
    """The job defaults (``POLL_SECONDS``, ``MAX_GENERATION_POLLS``, ``WEBHOOK_URL``...), read from the
    variables named like :class:`RunConfig`'s fields (``DEFAULT_MODEL`` sets its ``model``)."""

    run: RunConfig = RunConfig()

    @model_validator(mode="before")
    @classmethod
    def _gather_run(cls, env: dict[str, Any]) -> dict[str, Any]:
        run = {name: env[name] for name in RunConfig.model_fields if name in env and name != "model"}
        if "default_model" in env:
            run["model"] = env["default_model"]
        return {**env, "run": run}


class SyncApi(FunctionSettings):
    sync_api_key_secret_arn: str
    sync_base_url: str = "https://api.sync.so"
    sync_timeout_seconds: float = 30.0
    sync_read_timeout_seconds: float = 30.0


def provision(settings: FunctionSettings) -> None:
    """Make the clients ``settings`` name, at init, for an environment started ahead of its invocations.

    Under provisioned concurrency the init phase runs before any invocation waits on it, so what a first
    invocation would otherwise make on first use (botocore's models, the DynamoDB resource, the secrets,
    the HTTP client: about a quarter of a second) is ready when it comes. On demand they stay made on first
    use, so a cold start pays only for what it touches. A client that cannot be made here (a denied secret,
    say) is made again on first use, where its error is reported as the step's.
    """
    try:
        for name, value in settings:  # every table (``*_table``) and secret (``*_secret_arn``) it names
            if value and name.endswith("_table"):
                _dynamodb_table(value)
            elif value and name.endswith("_secret_arn"):
                secret(value)  # cached: the sync. labs client below reads the API key from the cache
        if isinstance(settings, Bucket):
            _s3_client()
        if isinstance(settings, Machine | Slots | Callbacks | Campaigns):
            _boto3_client("stepfunctions")
        if isinstance(settings, EventBus):
            _boto3_client("events")
        if isinstance(settings, SyncApi):
            sync_client(settings)
    except Exception as error:  # first use makes it again and reports what is wrong
        logger.warning("a client could not be made at init", extra={"error": type(error).__name__})


Handler = Callable[[Any, Any], Any]
MEASURED_STEPS: dict[Step, Handler] = {}  # each step's handler, as record_step wrapped it


@cache
def metrics() -> Metrics:
    """The functions' one Metrics (namespace and service from POWERTOOLS_METRICS_NAMESPACE / _SERVICE_NAME),
    made on first use: importing it is not worth a cold start that emits nothing."""
    from aws_lambda_powertools import Metrics

    return Metrics()


@cache
def tracer() -> Tracer:
    """The functions' one Tracer (X-Ray, as the template's ``Tracing: Active`` asks), patching botocore
    only: the sync. labs calls carry signed URLs that must not reach a trace."""
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=("botocore",))


def traced(handler: Handler) -> Handler:
    """Trace the invocations X-Ray samples; the Tracer is made on the first of them, not at import:
    importing the X-Ray SDK and patching botocore costs about 140 ms, which an invocation nobody traces
    (most of them: X-Ray samples one a second and 5 % of the rest) need not pay."""
    captured: list[Handler] = []

    @functools.wraps(handler)
    def maybe_traced(event: Any, context: Any) -> Any:
        if "Sampled=1" not in os.environ.get("_X_AMZN_TRACE_ID", ""):
            return handler(event, context)
        if not captured:  # the response is the job state, with signed URLs: it is not recorded
            captured.append(tracer().capture_lambda_handler(handler, capture_response=False))
        return captured[0](event, context)

    return maybe_traced


def record_step(step: Step) -> Callable[[Handler], Handler]:
    """Emit each invocation's duration as the ``StepDuration`` metric (ms), by step and outcome."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def measured(event: Any, context: Any) -> Any:
            started, outcome = time.perf_counter(), "error"
            try:
                answer = handler(event, context)
                outcome = "ok"
                return answer
            finally:
                _emit(
                    "StepDuration", "Milliseconds", (time.perf_counter() - started) * 1000, step=step, outcome=outcome
                )

        MEASURED_STEPS[step] = measured
        return measured

    return wrap


def record_job_end(status: str, error_code: str | None = None) -> None:
    """Count a job's end as the ``JobsEnded`` metric, by status and, for a failure, by its error code."""
    _emit("JobsEnded", "Count", 1, status=status, **({"errorCode": error_code} if error_code else {}))


def _emit(name: str, unit: str, value: float, **dimensions: str) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    emitter = metrics()
    for dimension, dimension_value in dimensions.items():
        emitter.add_dimension(name=dimension, value=dimension_value)
    emitter.add_metric(name=name, unit=MetricUnit(unit), value=value)
    emitter.flush_metrics()  # one EMF record on stdout: CloudWatch turns it into the metric


@cache
def _boto3_client(service: str) -> object:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def _dynamodb_table(name: str) -> object:
    import boto3

    return boto3.resource("dynamodb").Table(name)


@cache
def _s3_client() -> object:
    """SigV4 throughout, presigned links too (botocore would presign with SigV2 in some regions)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4"))


def store(bucket: str) -> ObjectStore:
    from revoice.aws.s3 import S3ObjectStore

    return S3ObjectStore(bucket, _s3_client())  # type: ignore[arg-type]


def jobs(settings: Jobs) -> JobRecords:
    from revoice.aws.tables import JobTable

    return JobTable(_dynamodb_table(settings.jobs_table))  # type: ignore[arg-type]


def voices(settings: Voices) -> VoiceRegistry:
    from revoice.aws.tables import VoiceTable

    return VoiceTable(_dynamodb_table(settings.voices_table))  # type: ignore[arg-type]


def slots(settings: Slots) -> GenerationSlots:
    from revoice.aws.tables import SlotTable
    from revoice.pipeline.slots import GENERATIONS, GenerationSlots

    table = _dynamodb_table(settings.slots_table)
    return GenerationSlots(SlotTable(table, settings.plan_concurrency, GENERATIONS))  # type: ignore[arg-type]


def executions(settings: Machine) -> Executions:
    from revoice.aws.stepfunctions import StepFunctionsExecutions

    return StepFunctionsExecutions(settings.state_machine_arn, _boto3_client("stepfunctions"))  # type: ignore[arg-type]


def callbacks(settings: Callbacks) -> CallbackStore:
    from revoice.aws.tables import CallbackTable

    return CallbackTable(_dynamodb_table(settings.callbacks_table))  # type: ignore[arg-type]


def events(settings: EventBus) -> JobEvents:
    from revoice.aws.eventbridge import EventBridgeEvents

    return EventBridgeEvents(settings.event_bus_name, _boto3_client("events"))  # type: ignore[arg-type]


def resumer() -> Resumer:
    from revoice.aws.stepfunctions import TaskTokens

    return TaskTokens(_boto3_client("stepfunctions"))  # type: ignore[arg-type]


def secret(arn: str) -> str:
    """A secret's value from Secrets Manager, cached for five minutes."""
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS))


def sync_client(settings: SyncApi) -> SyncClient:
    return _client_for(secret(settings.sync_api_key_secret_arn), settings)


@lru_cache(maxsize=1)
def _client_for(api_key: str, settings: SyncApi) -> SyncClient:
    import httpx

    from revoice.sync import SyncClient
    from revoice.sync.retry import RetryPolicy
    from revoice.sync.transport import DEFAULT_TIMEOUT

    return SyncClient(
        api_key,
        base_url=settings.sync_base_url,
        timeout=httpx.Timeout(
            connect=DEFAULT_TIMEOUT.connect,
            read=settings.sync_read_timeout_seconds,
            write=DEFAULT_TIMEOUT.write,
            pool=DEFAULT_TIMEOUT.pool,
        ),
        retry=RetryPolicy(deadline=settings.sync_timeout_seconds),
    )
