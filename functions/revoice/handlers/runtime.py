"""What the handlers share: settings validated at cold start, clients made once per container.

Everything is created lazily on first use, so a handler only pays for what it touches. The API key
comes from Secrets Manager through Powertools Parameters (cached for five minutes, so a rotated key is
picked up without a redeploy) and never reaches a log line.
"""

from __future__ import annotations

import os
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from revoice.pipeline.state import RunConfig

if TYPE_CHECKING:
    from revoice.pipeline.callbacks import CallbackStore, Resumer
    from revoice.pipeline.slots import GenerationSlots
    from revoice.pipeline.stores import Executions, JobTable, ObjectStore
    from revoice.pipeline.voices import VoiceRegistry
    from revoice.sync import SyncClient

logger = Logger()
SECRET_MAX_AGE_SECONDS = 300


class Settings(BaseModel):
    """The functions' environment. A missing or malformed variable fails the cold start, loudly.

    ``run`` holds the job defaults (``POLL_SECONDS``, ``MAX_GENERATION_POLLS``, ``WEBHOOK_URL``...), read
    from the variables named like :class:`RunConfig`'s fields (``DEFAULT_MODEL`` sets its ``model``).
    """

    jobs_bucket: str
    jobs_table: str
    voices_table: str
    sync_api_key_secret_arn: str
    sync_base_url: str = "https://api.sync.so"
    state_machine_arn: str | None = None
    sync_timeout_seconds: float = 30.0
    sync_read_timeout_seconds: float = 30.0
    callbacks_table: str | None = None
    slots_table: str | None = None
    plan_concurrency: int = 6
    webhooks_enabled: bool = False
    webhook_base_url: str | None = None
    sync_webhook_secret_arn: str | None = None
    api_token_secret_arn: str | None = None
    voice_idle_ttl_hours: float = 72
    run: RunConfig = RunConfig()

    @classmethod
    def from_env(cls) -> Settings:
        env = {k.lower(): v for k, v in os.environ.items() if v != ""}  # a blank variable means "not set"
        run = {name: env[name] for name in RunConfig.model_fields if name in env and name != "model"}
        if "default_model" in env:
            run["model"] = env["default_model"]
        return cls.model_validate({**{k: env[k] for k in cls.model_fields if k in env}, "run": run})

    def run_config(self) -> RunConfig:
        return self.run


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def _boto3_client(service: str) -> object:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def _dynamodb_table(name: str) -> object:
    import boto3

    return boto3.resource("dynamodb").Table(name)


def store(bucket: str | None = None) -> ObjectStore:
    from revoice.pipeline.stores import ObjectStore

    return ObjectStore(bucket or settings().jobs_bucket, _boto3_client("s3"))  # type: ignore[arg-type]


def jobs() -> JobTable:
    from revoice.pipeline.stores import JobTable

    return JobTable(_dynamodb_table(settings().jobs_table))  # type: ignore[arg-type]


def voices() -> VoiceRegistry:
    from revoice.pipeline.voices import VoiceRegistry

    return VoiceRegistry(_dynamodb_table(settings().voices_table))  # type: ignore[arg-type]


def slots() -> GenerationSlots:
    from revoice.pipeline.slots import GenerationSlots

    config = settings()
    table = _dynamodb_table(_required(config.slots_table, "SLOTS_TABLE"))
    return GenerationSlots(table, config.plan_concurrency)  # type: ignore[arg-type]


def executions() -> Executions:
    from revoice.pipeline.stores import Executions

    arn = _required(settings().state_machine_arn, "STATE_MACHINE_ARN")
    return Executions(arn, _boto3_client("stepfunctions"))  # type: ignore[arg-type]


def callbacks() -> CallbackStore:
    from revoice.pipeline.callbacks import CallbackStore

    return CallbackStore(_dynamodb_table(_required(settings().callbacks_table, "CALLBACKS_TABLE")))  # type: ignore[arg-type]


def resumer() -> Resumer:
    from revoice.pipeline.callbacks import Resumer

    return Resumer(_boto3_client("stepfunctions"))  # type: ignore[arg-type]


def secret(arn: str | None, variable: str) -> str:
    """A secret's value from Secrets Manager, cached for five minutes."""
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(_required(arn, variable), max_age=SECRET_MAX_AGE_SECONDS))


def sync_client() -> SyncClient:
    return _client_for(secret(settings().sync_api_key_secret_arn, "SYNC_API_KEY_SECRET_ARN"))


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"{variable} is not set for this function")
    return value


@lru_cache(maxsize=1)
def _client_for(api_key: str) -> SyncClient:
    import httpx

    from revoice.sync import SyncClient
    from revoice.sync.client import DEFAULT_TIMEOUT
    from revoice.sync.retry import RetryPolicy

    config = settings()
    return SyncClient(
        api_key,
        base_url=config.sync_base_url,
        timeout=httpx.Timeout(
            connect=DEFAULT_TIMEOUT.connect,
            read=config.sync_read_timeout_seconds,
            write=DEFAULT_TIMEOUT.write,
            pool=DEFAULT_TIMEOUT.pool,
        ),
        retry=RetryPolicy(deadline=config.sync_timeout_seconds),
    )
