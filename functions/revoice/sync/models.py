"""Pydantic models for what revoice sends to and reads from sync. labs.

Responses are parsed leniently (unknown fields ignored, camelCase or snake_case accepted) because the
public docs and SDKs disagree on details; requests are strict and serialised in the API's camelCase.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

# Older docs also name TIMED_OUT and CANCELED (or CANCELLED) as ends of a generation.
GENERATION_FAILED = frozenset({"FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "CANCELLED"})
GENERATION_TERMINAL = GENERATION_FAILED | {"COMPLETED"}
TTS_SUCCESS = frozenset({"SUCCESS", "COMPLETED"})
TTS_TERMINAL = TTS_SUCCESS | {"FAILED", "TIMED_OUT", "CANCELED", "CANCELLED"}
MAX_SCRIPT_CHARS = 5000
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
OUTPUT_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

# The API's models and sync modes: the one list the manifest, the CLI, the template (checked by a test)
# and the emulator all take theirs from.
Model = Literal["lipsync-2", "lipsync-2-pro", "sync-3", "lipsync-1.9.0-beta", "react-1"]
SyncMode = Literal["bounce", "loop", "cut_off", "silence", "remap"]
MODELS: tuple[str, ...] = get_args(Model)
SYNC_MODES: tuple[str, ...] = get_args(SyncMode)
DEFAULT_MODEL: Model = "lipsync-2"  # what revoice asks for when a job names none
DEFAULT_SYNC_MODE: SyncMode = "bounce"  # sync. labs' own default when a request names none
AssetType = Literal["VIDEO", "AUDIO", "IMAGE"]
# What a voice in the list may say it cannot do (it cannot speak until the restriction is lifted).
VOICE_RESTRICTIONS = frozenset({"verification_required", "blocked"})


class ApiModel(BaseModel):
    """A response shape: lenient, accepts camelCase from the wire and snake_case from Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class RequestModel(BaseModel):
    """A request body: strict, dumped in camelCase without unset fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class StatusAnswer(ApiModel):
    """A job-like answer (a TTS job, a generation, a batch): its ``status`` read in upper case."""

    @field_validator("status", mode="before", check_fields=False)
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ErrorBody(ApiModel):
    status_code: int | None = None
    error_code: str | None = Field(default=None, validation_alias=AliasChoices("errorCode", "error_code"))
    message: str | list[str] | None = None
    suggestion: str | None = None
    field: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    active_generations: int | None = None
    concurrency_limit: int | None = None
    generation_id: str | None = None  # IDEMPOTENCY_OUTCOME_UNKNOWN may name the generation to follow

    def text(self) -> str:
        if isinstance(self.message, list):
            return "; ".join(self.message)
        return self.message or self.error or "no message"


class UploadTicket(ApiModel):
    upload_url: str
    url: str
    expires_in: int | None = None


class Asset(ApiModel):
    id: str
    url: str | None = None
    type: str | None = None
    name: str | None = None
    visibility: str | None = None
    size: int | None = None
    format: str | None = None
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Page(ApiModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
    total_count: int | None = None


class Voice(ApiModel):
    """A voice as ``GET /v2/voices`` lists it: only ``provider`` is required there.

    ``voice_id`` in the list is the provider's own id; the clone answer's ``voiceId`` is sync. labs'
    (see :class:`ClonedVoice`).
    """

    id: str | None = None
    name: str | None = None
    provider: str | None = None
    internal_voice_id: str | None = None
    voice_id: str | None = None
    preview_url: str | None = None
    restriction: str | None = None

    @property
    def can_speak(self) -> bool:
        return self.restriction not in VOICE_RESTRICTIONS


class ClonedVoice(ApiModel):
    """``POST /v2/voices``' answer: the API reference names the new voice ``voiceId``, other pages ``id``."""

    id: str | None = Field(default=None, validation_alias=AliasChoices("id", "voiceId"))
    name: str | None = None
    internal_voice_id: str | None = None

    def voice(self) -> Voice:
        return Voice(id=self.id, name=self.name, provider="elevenlabs", internal_voice_id=self.internal_voice_id)


class TtsJob(StatusAnswer):
    """Any of the three documented TTS answers, normalised.

    ``endpoint`` records where to poll: ``jobs`` for ``/v2/tts/jobs/{id}``, ``tts`` for the seed's
    ``/v2/tts/{id}``. A synchronous answer carries a ``url`` and no status: it is finished.
    """

    id: str
    status: str = "SUCCESS"
    url: str | None = Field(default=None, validation_alias=AliasChoices("url", "synthesizedAudioUrl", "audioUrl"))
    duration: float | None = None
    error: str | None = None
    error_code: str | None = Field(default=None, validation_alias=AliasChoices("errorCode", "error_code"))
    endpoint: Literal["jobs", "tts"] = "jobs"

    @model_validator(mode="before")
    @classmethod
    def _error_object(cls, data: Any) -> Any:
        """The reference's ``error`` is an object (``TtsJobError``); older answers give a string."""
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            code = error.get("code") or error.get("errorCode")
            message = error.get("message") or code or "no message"
            data = {**data, "error": str(message)}
            if code and not (data.get("errorCode") or data.get("error_code")):
                data["errorCode"] = str(code)
        return data

    @property
    def finished(self) -> bool:
        return self.status in TTS_TERMINAL or (self.status not in {"PENDING", "PROCESSING"} and self.url is not None)

    @property
    def succeeded(self) -> bool:
        return self.url is not None and self.status not in TTS_TERMINAL - TTS_SUCCESS


class TtsRequest(RequestModel):
    script: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS)
    voice_id: str = Field(min_length=1)
    provider: Literal["elevenlabs"] = "elevenlabs"
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)


class MediaInput(RequestModel):
    type: Literal["video", "audio"]
    url: str | None = None
    asset_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> MediaInput:
        if (self.url is None) == (self.asset_id is None):
            raise ValueError(f"a {self.type} input needs exactly one of url or assetId")
        return self


class TtsProvider(RequestModel):
    name: Literal["elevenlabs"] = "elevenlabs"
    voice_id: str = Field(min_length=1)
    script: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS)
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)


class TextInput(RequestModel):
    type: Literal["text"] = "text"
    provider: TtsProvider


class GenerateRequest(RequestModel):
    model: Model = "lipsync-2"
    input: list[MediaInput | TextInput] = Field(min_length=2)
    options: dict[str, Any] | None = None
    webhook_url: str | None = None
    output_file_name: str | None = None

    @field_validator("output_file_name")
    @classmethod
    def _safe_output_name(cls, value: str | None) -> str | None:
        if value is not None and not OUTPUT_FILE_NAME.match(value):
            raise ValueError("outputFileName may hold only letters, digits, '_' and '-', up to 255 characters")
        return value


class Generation(StatusAnswer):
    id: str
    status: str
    created_at: str | None = None
    model: str | None = None
    input: list[dict[str, Any]] | None = None
    options: dict[str, Any] | None = None
    output_url: str | None = None
    output_duration: float | None = None
    output_file_name: str | None = None
    webhook_url: str | None = None
    error: str | None = None
    error_code: str | None = Field(default=None, validation_alias=AliasChoices("errorCode", "error_code"))
    synthesized_audio_url: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in GENERATION_TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "COMPLETED"


class CostEstimate(ApiModel):
    estimated_frame_count: float
    estimated_generation_cost: float


# -- batches (Scale and Enterprise plans) --------------------------------------------------------------

BATCH_TERMINAL = frozenset({"COMPLETED", "FAILED"})
BATCH_ENDPOINT = "/v2/generate"  # the one endpoint a batch line may name


class BatchRequest(BaseModel):
    """One line of a batch's ``.jsonl``: sync. labs' own snake_case keys, the generate body as the payload."""

    request_id: str
    payload: GenerateRequest

    def jsonl(self) -> bytes:
        """The line as the batch file holds it (compact JSON and its newline): what the size limit counts."""
        line = {"request_id": self.request_id, "endpoint": BATCH_ENDPOINT, "payload": self.payload.wire()}
        return (json.dumps(line, separators=(",", ":")) + "\n").encode()


class BatchMetrics(ApiModel):
    # The reference writes these snake_case on the batch endpoints and camelCase in its webhook's example.
    total_generations: int = Field(default=0, validation_alias=AliasChoices("total_generations", "totalGenerations"))
    success_count: int = Field(default=0, validation_alias=AliasChoices("success_count", "successCount"))
    failed_count: int = Field(default=0, validation_alias=AliasChoices("failed_count", "failedCount"))
    pending_count: int = Field(default=0, validation_alias=AliasChoices("pending_count", "pendingCount"))


class Batch(StatusAnswer):
    id: str = ""  # a dry run answers only {"status": "VALIDATED"}
    status: str
    created_at: str | None = Field(default=None, validation_alias=AliasChoices("created_at", "createdAt"))
    metrics: BatchMetrics = BatchMetrics()
    output_url: str | None = Field(default=None, validation_alias=AliasChoices("outputUrl", "output_url"))
    webhook_url: str | None = Field(default=None, validation_alias=AliasChoices("webhookUrl", "webhook_url"))

    @property
    def finished(self) -> bool:
        return self.status in BATCH_TERMINAL


class BatchResult(ApiModel):
    """One row of a batch's results file. The reference does not spell the row out: both cases are read,
    and a row without a generation is a request sync. labs never started."""

    request_id: str = Field(validation_alias=AliasChoices("request_id", "requestId"))
    status: str | None = None
    generation_id: str | None = Field(
        default=None, validation_alias=AliasChoices("generation_id", "generationId", "id")
    )
    error: str | None = None
    error_code: str | None = Field(default=None, validation_alias=AliasChoices("errorCode", "error_code"))

    @field_validator("error", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value.get("message", str(value)) if isinstance(value, dict) else value
