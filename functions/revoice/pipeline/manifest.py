"""The job manifest: what a user asks revoice to do, validated before anything starts.

Two forms arrive in ``inbox/``: a JSON manifest, or a video whose script rides in its S3 metadata
(``x-amz-meta-script`` and friends). Both become a :class:`JobManifest`; anything wrong becomes a
:class:`JobInputError` whose reason names the field.
"""

from __future__ import annotations

import json
import re
from email.header import decode_header, make_header
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from revoice.pipeline.errors import JobInputError
from revoice.sync.models import DEFAULT_SYNC_MODE, MAX_SCRIPT_CHARS, Model, SyncMode

MAX_MANIFEST_BYTES = 64 * 1024
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
METADATA_FIELDS = (
    "script",
    "target",
    "model",
    "sync-mode",
    "output-name",
    "voice-name",
    "speech",
    "stability",
    "similarity-boost",
    "poll-seconds",
    "timeout-seconds",
    "callback",
    "voice",
    "voice-id",
)


def _either_spelling(name: str) -> AliasChoices:
    """revoice writes its JSON in camelCase (``result.json``, the HTTP API); a manifest may use that spelling
    or the snake_case it has always taken."""
    return AliasChoices(name, to_camel(name))


class JobManifest(BaseModel):
    """One job. Sources are keys in the jobs bucket; the target defaults to the source."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    source: str = Field(description="key of the talking-head video whose voice is cloned")
    target: str | None = Field(default=None, description="key of the video to lip-sync (default: source)")
    script: str = Field(description="the new line to speak, 1-5000 characters")
    model: Model | None = None
    sync_mode: SyncMode = Field(default=DEFAULT_SYNC_MODE, validation_alias=_either_spelling("sync_mode"))
    output_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,200}$", validation_alias=_either_spelling("output_name")
    )
    voice_name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9 _.-]{1,48}$", validation_alias=_either_spelling("voice_name")
    )
    speech: Literal["tts", "text"] = Field(default="tts", description="TTS then lip-sync, or text into generate")
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(
        default=None, ge=0, le=1, validation_alias=_either_spelling("similarity_boost")
    )
    poll_seconds: int | None = Field(default=None, ge=1, le=300, validation_alias=_either_spelling("poll_seconds"))
    timeout_seconds: int | None = Field(
        default=None, ge=5, le=86_400, validation_alias=_either_spelling("timeout_seconds")
    )
    callback: bool = Field(default=True, description="wait for sync. labs' webhook where the stack has one")
    voice: Literal["reuse", "fresh", "ephemeral"] = Field(
        default="reuse", description="reuse a clone of the same source, clone afresh, or clone and delete after"
    )
    voice_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="speak in this existing voice (a clone or a built-in); no cloning",
        validation_alias=_either_spelling("voice_id"),
    )

    notify_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed the job's outcome when it ends (https; the same address rules as URL sources)",
        validation_alias=_either_spelling("notify_url"),
    )

    @model_validator(mode="before")
    @classmethod
    def _each_field_once(cls, data: Any) -> Any:
        if isinstance(data, dict):
            twice = [
                f"'{name}' and '{to_camel(name)}'"
                for name in cls.model_fields
                if name in data and to_camel(name) in data and name != to_camel(name)
            ]
            if twice:
                raise ValueError(f"{', '.join(twice)} are one field: give it once")
        return data

    @model_validator(mode="after")
    def _one_voice_choice(self) -> JobManifest:
        if self.voice_id and self.voice != "reuse":
            raise ValueError(f"'voice_id' names a voice to use, so 'voice': '{self.voice}' cannot apply")
        return self

    @field_validator("script")
    @classmethod
    def _speakable(cls, value: str) -> str:
        if not value:
            raise ValueError("the script is empty")
        if len(value) > MAX_SCRIPT_CHARS:
            raise ValueError(f"the script has {len(value)} characters; sync. labs accepts at most {MAX_SCRIPT_CHARS}")
        if CONTROL.search(value):
            raise ValueError("the script contains control characters")
        return value

    @field_validator("source", "target")
    @classmethod
    def _bucket_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value or len(value.encode()) > 1024:
            raise ValueError("must be an object key of 1-1024 bytes")
        if value.startswith("/") or ".." in value.split("/") or CONTROL.search(value):
            raise ValueError("must be a plain key in the jobs bucket (no leading '/', no '..')")
        if value.startswith(("results/", "failed/")):
            raise ValueError("must not point at revoice's own outputs")
        return value

    @field_validator("notify_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if (value is not None and not value.startswith(("https://", "http://"))) or CONTROL.search(value or ""):
            raise ValueError("must be an https:// URL")
        return value

    @property
    def target_key(self) -> str:
        return self.target or self.source

    @property
    def notifies(self) -> bool:
        return self.notify_url is not None


def parse_manifest(raw: bytes) -> JobManifest:
    if not raw.strip():
        raise JobInputError("invalid_manifest", "the manifest is empty")
    if len(raw) > MAX_MANIFEST_BYTES:
        raise JobInputError("invalid_manifest", f"the manifest is {len(raw)} bytes; at most {MAX_MANIFEST_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JobInputError("invalid_manifest", f"the manifest is not valid JSON ({exc})") from exc
    except RecursionError as exc:  # "[[[[..." is valid JSON that no manifest needs
        raise JobInputError("invalid_manifest", "the manifest is nested too deeply to be a job manifest") from exc
    if not isinstance(data, dict):
        raise JobInputError("invalid_manifest", "the manifest must be a JSON object")
    return validate_manifest(data)


def validate_manifest(data: dict[str, Any]) -> JobManifest:
    try:
        return JobManifest.model_validate(data)
    except ValidationError as exc:
        raise JobInputError("invalid_manifest", describe(exc)) from exc


def manifest_from_metadata(video_key: str, metadata: dict[str, str]) -> JobManifest:
    """A manifest for a video dropped in ``inbox/`` with its script in ``x-amz-meta-*``."""
    fields: dict[str, Any] = {"source": video_key}
    for name in METADATA_FIELDS:
        if name in metadata:
            fields[name.replace("-", "_")] = decoded(metadata[name])
    if "script" not in fields:
        raise JobInputError(
            "missing_script",
            "a video in inbox/ needs its script in the x-amz-meta-script metadata; or put the video elsewhere "
            "in the bucket and drop a JSON manifest naming it in inbox/",
        )
    return validate_manifest(fields)


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field: what a user needs to fix the manifest."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "manifest"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown field '{field}'")
        elif item["type"] == "missing":
            problems.append(f"'{field}' is required")
        else:
            problems.append(f"'{field}': {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def decoded(value: str) -> str:
    """S3 metadata is ASCII: clients send other text RFC 2047-encoded (``=?UTF-8?B?...?=``)."""
    if "=?" in value:
        return str(make_header(decode_header(value)))
    return value
