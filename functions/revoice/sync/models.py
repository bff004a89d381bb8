"""Pydantic models for what revoice sends to and reads from sync. labs.

Responses are parsed leniently (unknown fields ignored, camelCase or snake_case accepted) because the
public docs and SDKs disagree on details; requests are strict and serialised in the API's camelCase.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

GENERATION_TERMINAL = frozenset({"COMPLETED", "FAILED", "REJECTED", "CANCELED", "CANCELLED"})
TTS_SUCCESS = frozenset({"SUCCESS", "COMPLETED"})
TTS_TERMINAL = TTS_SUCCESS | {"FAILED", "CANCELED", "CANCELLED"}
MAX_SCRIPT_CHARS = 5000
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
OUTPUT_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

Model = Literal["lipsync-2", "lipsync-2-pro", "sync-3", "lipsync-1.9.0-beta", "react-1"]
SyncMode = Literal["bounce", "loop", "cut_off", "silence", "remap"]
AssetType = Literal["VIDEO", "AUDIO", "IMAGE"]


class ApiModel(BaseModel):
    """A response shape: lenient, accepts camelCase from the wire and snake_case from Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class RequestModel(BaseModel):
    """A request body: strict, dumped in camelCase without unset fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


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
    id: str
    name: str
    provider: str | None = None
    internal_voice_id: str | None = None
    voice_id: str | None = None
    preview_url: str | None = None
    restriction: str | None = None


class TtsJob(ApiModel):
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

    @field_validator("status", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def finished(self) -> bool:
        return self.status in TTS_TERMINAL or (self.status not in {"PENDING", "PROCESSING"} and self.url is not None)

    @property
    def succeeded(self) -> bool:
        return self.url is not None and self.status not in {"FAILED", "CANCELED", "CANCELLED"}


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


class Generation(ApiModel):
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

    @field_validator("status", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def finished(self) -> bool:
        return self.status in GENERATION_TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "COMPLETED"


class CostEstimate(ApiModel):
    estimated_frame_count: float
    estimated_generation_cost: float
