"""The sync. labs API's own facts, in one place: models, sync modes, prices, built-in voices, and the
catalog of error codes that ``GET /v2/errors`` serves and every refusal of the emulator names."""

from __future__ import annotations

from dataclasses import dataclass

from revoice.sync.models import (
    DEFAULT_MODEL,
    DEFAULT_SYNC_MODE,
    IDEMPOTENCY_KEY,
    MAX_SCRIPT_CHARS,
    MODELS,
    OUTPUT_FILE_NAME,
    SYNC_MODES,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_SYNC_MODE",
    "IDEMPOTENCY_KEY",
    "MAX_SCRIPT_CHARS",
    "MODELS",
    "OUTPUT_FILE_NAME",
    "SYNC_MODES",
]

RUNNING = ("PENDING", "PROCESSING")
PRICE_PER_SECOND = {
    "lipsync-2": 0.05,
    "lipsync-2-pro": 0.083,
    "sync-3": 0.133,
    "lipsync-1.9.0-beta": 0.04,
    "react-1": 0.1,
}
# The API lists a few voices every org can speak in; their ids are the emulator's.
BUILTIN_VOICES = (
    ("builtin-rachel", "Rachel", "21m00Tcm4TlvDq8ikWAM"),
    ("builtin-adam", "Adam", "pNInz6obpgDQGcFmaJgB"),
    ("builtin-bella", "Bella", "EXAVITQu4vr4xnSDxMaL"),
)


@dataclass(frozen=True)
class CatalogEntry:
    status: int
    message: str
    fix: str


ERRORS: dict[str, CatalogEntry] = {
    # generations
    "generation_input_validation_failed": CatalogEntry(
        400, "Failed to validate input parameters.", "Check the request body against the API reference."
    ),
    "generation_unsupported_model": CatalogEntry(
        400, "The requested model is not supported for this operation.", "Use a model GET /v2/models lists."
    ),
    "generation_text_length_exceeded": CatalogEntry(
        400, "Text must be less than 5000 characters in one generation.", "Split the script."
    ),
    "generation_video_missing": CatalogEntry(400, "No video file was provided in the request.", "Add a video input."),
    "generation_audio_missing": CatalogEntry(
        400, "No audio file was provided in the request.", "Add an audio or text input."
    ),
    "generation_media_metadata_missing": CatalogEntry(
        400,
        "Required media metadata is missing from the request.",
        "Use media with a readable duration (and frame rate for video).",
    ),
    "generation_plan_duration_exceeded": CatalogEntry(
        400, "The video is longer than your plan allows.", "Trim the video or upgrade the plan."
    ),
    "generation_input_video_inaccessible": CatalogEntry(
        422, "The video input could not be downloaded.", "Use a public URL or upload the file first."
    ),
    "generation_input_audio_inaccessible": CatalogEntry(
        422, "The audio input could not be downloaded.", "Use a public URL or upload the file first."
    ),
    "generation_not_found": CatalogEntry(404, "Generation not found.", "Check the generation id."),
    "generation_not_deletable_while_processing": CatalogEntry(
        409, "A generation cannot be deleted while it is processing.", "Wait for it to finish."
    ),
    "concurrency_limit_reached": CatalogEntry(
        429, "Concurrency limit reached for your plan.", "Wait for a running generation to finish."
    ),
    "rate_limit_exceeded": CatalogEntry(429, "Too many requests.", "Back off and retry."),
    "idempotency_key_conflict": CatalogEntry(
        409, "This Idempotency-Key was used with a different body.", "Use a new key for a new request."
    ),
    "INVALID_IDEMPOTENCY_KEY": CatalogEntry(
        400, "Idempotency-Key must be 1-128 characters of [A-Za-z0-9._~-].", "Send a valid key."
    ),
    "IDEMPOTENCY_OUTCOME_UNKNOWN": CatalogEntry(
        503,
        "Whether the request was accepted is not known.",
        "Poll the generationId when given; otherwise retry with the same key, never a new one.",
    ),
    # assets
    "asset_not_found": CatalogEntry(404, "Asset not found.", "Check the asset id."),
    "uploaded_file_not_found": CatalogEntry(404, "No uploaded file at that URL.", "Finish the upload first."),
    "file_not_in_org_storage": CatalogEntry(400, "The URL is not in sync. labs storage.", "Upload it first."),
    "file_size_exceeds_plan_limit": CatalogEntry(
        422, "The file is larger than your plan allows.", "Compress the file or upgrade the plan."
    ),
    # voices
    "voice_not_found": CatalogEntry(404, "Voice not found.", "GET /v2/voices lists the voices you can use."),
    "voice_sample_upload_required": CatalogEntry(
        422, "The sample must be in sync. labs storage.", "Upload it with /v2/assets/upload."
    ),
    "voice_sample_invalid": CatalogEntry(400, "The sample has no usable audio.", "Use a clip with clear speech."),
    "voice_sample_too_short": CatalogEntry(400, "The sample is too short.", "Use a longer clip."),
    "voice_sample_source_too_large": CatalogEntry(413, "Video samples must be 1 GiB or smaller.", "Trim the video."),
    "voice_clone_limit_reached": CatalogEntry(
        403, "All clone slots of your plan are in use.", "Delete a voice with DELETE /v2/voices/{id}, then retry."
    ),
    "voice_name_conflict": CatalogEntry(409, "A voice with that name already exists.", "Pick another name."),
    "voice_clone_busy": CatalogEntry(429, "Another clone is being made.", "Retry shortly."),
    # text to speech
    "tts_job_not_found": CatalogEntry(404, "TTS job not found.", "Check the job id."),
    "tts_jobs_not_enabled": CatalogEntry(
        503, "Asynchronous TTS is not enabled for this organization.", "Use POST /v2/tts."
    ),
    "elevenlabs_quota_exceeded": CatalogEntry(402, "The text-to-speech quota is used up.", "Wait or raise it."),
    "elevenlabs_service_unavailable": CatalogEntry(503, "The speech provider is unavailable.", "Retry with backoff."),
    # batches
    "batch_not_available": CatalogEntry(
        402,
        "The Batch API is available on Scale and Enterprise plans only.",
        "Upgrade the plan, or generate one by one.",
    ),
    "batch_input_validation_failed": CatalogEntry(
        400, "The batch file is not valid.", "Fix the listed lines; nothing of this batch was started."
    ),
    "batch_not_found": CatalogEntry(404, "Batch not found.", "Check the batch id."),
    "batch_results_not_ready": CatalogEntry(404, "The batch has no results yet.", "Wait until it is COMPLETED."),
    "batch_input_duration_exceeded": CatalogEntry(
        400, "Batch generations take inputs of 30 seconds at most.", "Generate longer videos one by one."
    ),
    # everything else
    "internal_error": CatalogEntry(500, "An unexpected failure on our side.", "Retry; contact support with the id."),
}
