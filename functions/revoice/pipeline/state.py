"""The job's state as it travels through the state machine, one section per step.

Each task receives the whole state and returns it with its own section filled in (``OutputPath:
$.Payload``). Field names are camelCase on the wire because the ASL reads some of them
(``$.config.pollSeconds``, ``$.tts.done``, ``$.generation.status``...).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field
from pydantic.alias_generators import to_camel

from revoice.pipeline.clock import Timestamp
from revoice.pipeline.contract import Step
from revoice.pipeline.manifest import JobManifest
from revoice.sync.models import DEFAULT_MODEL


class Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class JobRef(Section):
    id: str
    bucket: str
    key: str
    version: str
    trigger: Literal["s3", "http"] = "s3"
    received_at: Timestamp
    attempt: int = 1  # a campaign line run again (its file dropped again) is its 2nd, 3rd... run

    @property
    def request_key(self) -> str:
        """The Idempotency-Key of the job's TTS and generation: one per run (a new run asks anew)."""
        return self.id if self.attempt == 1 else f"{self.id}.{self.attempt}"


class RunConfig(Section):
    poll_seconds: int = 10
    tts_poll_seconds: int = 3
    max_generation_polls: int = 360
    max_tts_polls: int = 100
    max_upload_bytes: int = 5 * 1024**3
    model: str = DEFAULT_MODEL
    webhook_url: str | None = None
    callback_timeout_seconds: int = 1800
    slot_wait_seconds: int = 30
    max_slot_waits: int = 20
    generation_wait_seconds: int = 60
    max_generation_waits: int = 360
    notify_trusted_hosts: str = ""  # comma-separated: hosts a notify_url may name over http or privately

    @property
    def trusted_notify_hosts(self) -> frozenset[str]:
        return frozenset(host.strip().lower() for host in self.notify_trusted_hosts.split(",") if host.strip())


class PushedVideo(Section):
    key: str
    size: int
    etag: str
    asset_id: str
    url: str
    duration_seconds: float | None = None
    sha256: str | None = None


class Assets(Section):
    source: PushedVideo
    target: PushedVideo
    started_at: Timestamp
    finished_at: Timestamp


class VoiceState(Section):
    id: str
    name: str
    cloned: bool
    held: bool = False
    ephemeral: bool = False
    started_at: Timestamp
    finished_at: Timestamp


class TtsState(Section):
    id: str
    endpoint: Literal["jobs", "tts"]
    status: str
    done: bool
    polls: int = 0
    polls_used_up: bool = False  # the ASL's "Speech ready?" gives up on this
    url: str | None = None
    duration: float | None = None
    error: str | None = None
    started_at: Timestamp
    finished_at: Timestamp | None = None


class GenerationState(Section):
    id: str
    status: str
    model: str
    done: bool = False  # the ASL's "Lip-sync done?" reads these: which statuses end a generation is Python's
    succeeded: bool = False
    polls: int = 0
    polls_used_up: bool = False
    output_url: str | None = None
    output_duration: float | None = None
    synthesized_audio_url: str | None = None
    error: str | None = None
    error_code: str | None = None
    started_at: Timestamp
    finished_at: Timestamp | None = None
    handed_over: bool = False  # started by the job that passed it its slot, and woken with it


class JobState(Section):
    job: JobRef
    manifest: JobManifest
    config: RunConfig
    assets: Assets | None = None
    voice: VoiceState | None = None
    voice_waits: int = 0
    voice_wait_seconds: int | None = None  # how long the state machine waits before asking for a voice again
    generation_waits: int = 0
    generation_waiting_since: Timestamp | None = None  # the job's place in the line for a generation slot
    waiting_for: Literal["slot", "sync"] | None = None  # a free slot, or sync. labs to stop saying 429
    tts: TtsState | None = None
    generation: GenerationState | None = None
    error: dict[str, Any] | None = None
    failed_step: Step | None = None
    needs_fetch: bool = False  # the manifest names https URLs: the "Fetch sources" step copies them first

    # The Choice states read these booleans, so every rule of the flow is decided here, in Python.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def voice_ready(self) -> bool:
        return self.voice is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def voice_waits_used_up(self) -> bool:
        return self.voice_waits > self.config.max_slot_waits

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prepared(self) -> bool:
        """Its videos pushed and its voice chosen already (a campaign line: its campaign did both once)."""
        return self.assets is not None and self.voice is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def speech_in_generation(self) -> bool:
        """The script goes into the generate request as text: sync. labs synthesizes it there."""
        return self.manifest.speech == "text"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def generation_started(self) -> bool:
        return self.generation is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def generation_waits_used_up(self) -> bool:
        return self.generation_waits > self.config.max_generation_waits

    @computed_field  # type: ignore[prop-decorator]
    @property
    def waiting_for_sync(self) -> bool:
        return self.waiting_for == "sync"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def awaits_callback(self) -> bool:
        """sync. labs calls back when the generation ends; otherwise the state machine polls."""
        return self.config.webhook_url is not None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def wire(section: Section) -> dict[str, Any]:
    return section.model_dump(by_alias=True, exclude_none=True, mode="json")
