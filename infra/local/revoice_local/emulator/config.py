"""The emulator's settings: plan limits, timing, the documented variants to answer with, and faults.

Defaults follow the current API reference; where sources disagree, a switch here makes the emulator
answer the other documented way (the README's emulator section lists them). Clone-slot counts are not
published, so the emulator's are a guess that each run can override.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3

FaultKind = Literal[
    # HTTP-level, matched on "METHOD /path" (fnmatch globs):
    "rate_limit",  # 429 rate_limit_exceeded with Retry-After
    "concurrency_limit",  # 429 concurrency_limit_reached with retryAfterSeconds
    "server_error",  # `status` (5xx) with an error body
    "drop",  # the connection closes before the body is complete
    "slow",  # the answer waits `delay` seconds (past a client timeout if you like)
    "outcome_unknown",  # POST /v2/generate creates it, then answers 503 IDEMPOTENCY_OUTCOME_UNKNOWN
    # Job-level, matched on "generation" or "tts":
    "fail",  # the job ends FAILED with `error_code`
    "reject",  # the generation ends REJECTED
    # Webhook deliveries, matched on "webhook":
    "webhook_lost",
    "webhook_duplicate",
    "webhook_delay",  # delivered `delay` seconds late
    "webhook_reorder",  # held back until a later delivery is posted (at most `delay` seconds)
]


class Plan(BaseModel):
    concurrency: int
    max_video_seconds: float
    clone_slots: int
    monthly_generations: int | None = None  # then 402 (the free tier's 3 a month)
    monthly_tts: int | None = None
    batch_api: bool = False  # the Batch API (Scale and Enterprise); others answer 402


PLANS: dict[str, Plan] = {
    "free": Plan(concurrency=1, max_video_seconds=20, clone_slots=1, monthly_generations=3, monthly_tts=10),
    "hobbyist": Plan(concurrency=1, max_video_seconds=60, clone_slots=3),
    "creator": Plan(concurrency=3, max_video_seconds=300, clone_slots=5),
    "growth": Plan(concurrency=6, max_video_seconds=600, clone_slots=10),
    "scale": Plan(concurrency=15, max_video_seconds=1800, clone_slots=30, batch_api=True),
}


class FaultRule(BaseModel):
    """Inject ``kind`` into what ``target`` matches, ``times`` times (None: always), with ``probability``."""

    model_config = ConfigDict(extra="forbid")

    target: str = "*"
    kind: FaultKind
    times: int | None = 1
    probability: float = Field(default=1.0, ge=0, le=1)
    status: int = 503
    delay: float = 2.0
    error_code: str | None = None
    names_generation: bool = True  # outcome_unknown: whether the 503 carries the generationId to follow
    skip: int = Field(default=0, ge=0, description="let this many matches pass before the fault starts")

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """``KIND@TARGET[xN][:key=value,...]``, e.g. ``rate_limit@POST /v2/generate x2``."""
        head, _, extras = text.partition(":")
        kind, _, target = head.partition("@")
        times: int | None = 1
        target = target.strip() or "*"
        if " x" in target:
            target, _, count = target.rpartition(" x")
            times = None if count == "*" else int(count)
        fields: dict[str, object] = {"kind": kind.strip(), "target": target.strip(), "times": times}
        for pair in filter(None, extras.split(",")):
            key, _, value = pair.partition("=")
            fields[key.strip()] = value.strip()
        return cls.model_validate(fields)


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Well-known local defaults, like moto's "testing" credentials: the emulator guards nothing real.
    api_key: str = "sk-local-emulator"
    webhook_secret: str = "whsec_local_emulator_secret"  # noqa: S105
    plan: Literal["free", "hobbyist", "creator", "growth", "scale"] = "growth"
    concurrency: int | None = None
    clone_slots: int | None = None
    max_video_seconds: float | None = None
    time_scale: float = Field(default=1.0, gt=0, description="multiplies every duration and window")
    pending_seconds: float = 2.0
    processing_seconds: float = 8.0
    tts_seconds: float = 2.0
    clone_seconds: float = 1.0
    tts_shape: Literal["sync", "seed"] = "sync"
    tts_jobs_enabled: bool = True
    cost_shape: Literal["list", "object"] = "list"
    # Documented variants (the default is the current API reference's answer):
    clone_answer: Literal["voiceId", "id"] = "voiceId"  # what POST /v2/voices names the new voice's id
    tts_error_shape: Literal["object", "string"] = "object"  # a failed TTS job's error: TtsJobError or text
    voice_list_variants: bool = False  # also list voices with only a provider, no name, or a restriction
    rate_limit_hints: bool = False  # Retry-After and retryAfterSeconds on rate_limit_exceeded (docs: none)
    generations_list_shape: Literal["array", "page"] = "array"  # GET /v2/generations: bare array, or a page
    webhook_on_rejected: bool = False  # the reference's webhooks are for COMPLETED and FAILED only
    generate_per_minute: int = 100
    tts_per_minute: int = 60
    uploads_per_minute: int = 120
    clones_per_hour: int = 10
    max_upload_bytes: int = 5 * GIB
    max_voice_video_bytes: int = GIB
    min_sample_seconds: float = 1.0
    upload_url_ttl: int = 3600
    webhook_timeout: float = 5.0
    public_url: str | None = None
    data_dir: Path | None = None
    faults: list[FaultRule] = []
    # The Batch API. The reference's pages disagree on its limits (20-500 requests, inputs up to 30 s; or
    # up to 1,000 requests and 5 MB): every one is a setting. Batch counts per plan are not published.
    batch_api: bool | None = None  # None: as the plan has it
    batch_concurrency: int = 2  # batches running at once; the next one gets 429 concurrency_limit_reached
    batch_parallelism: int | None = None  # a batch's generations running at once (None: the plan's concurrency)
    batch_min_requests: int = 20
    batch_max_requests: int = 500
    batch_max_bytes: int = 5 * 1024 * 1024
    batch_max_input_seconds: float = 30.0

    @property
    def limits(self) -> Plan:
        plan = PLANS[self.plan]
        return Plan(
            concurrency=self.concurrency or plan.concurrency,
            max_video_seconds=self.max_video_seconds or plan.max_video_seconds,
            clone_slots=self.clone_slots if self.clone_slots is not None else plan.clone_slots,
            monthly_generations=plan.monthly_generations,
            monthly_tts=plan.monthly_tts,
            batch_api=plan.batch_api if self.batch_api is None else self.batch_api,
        )

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    @classmethod
    def from_file(cls, path: Path, **overrides: object) -> EmulatorConfig:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return cls.model_validate({**data, **{k: v for k, v in overrides.items() if v is not None}})
