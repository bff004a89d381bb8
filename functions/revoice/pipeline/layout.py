"""Where things live in the jobs bucket, and what a key under ``inbox/`` asks for.

Outputs go under ``results/`` and ``failed/``, never under ``inbox/``, so the pipeline cannot trigger
itself. Keys in S3 events arrive URL-encoded (``+`` for spaces); suffixes match in any letter case.
"""

from __future__ import annotations

import posixpath
from typing import Literal
from urllib.parse import unquote_plus

INBOX = "inbox/"
DOWNLOADS = "downloads/"  # copies of URL sources: intermediate, expired by the bucket's lifecycle rule
VIDEO_SUFFIXES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".avi": "video/x-msvideo"}
AUDIO_SUFFIXES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}
InboxKind = Literal["manifest", "video", "campaign", "folder", "unsupported"]
CAMPAIGN_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl"}  # and a .json manifest with a "lines" list


def is_url(value: str) -> bool:
    """A source named by URL (fetched into the bucket first) rather than by key."""
    return "://" in value


def decode_event_key(raw: str) -> str:
    return unquote_plus(raw)


def suffix(key: str) -> str:
    return posixpath.splitext(key)[1].lower()


def inbox_kind(key: str) -> InboxKind:
    if key.endswith("/"):
        return "folder"
    if suffix(key) == ".json":
        return "manifest"
    if suffix(key) in VIDEO_SUFFIXES:
        return "video"
    if suffix(key) in CAMPAIGN_SUFFIXES:
        return "campaign"
    return "unsupported"


def content_type(key: str) -> str:
    return VIDEO_SUFFIXES.get(suffix(key)) or AUDIO_SUFFIXES.get(suffix(key)) or "application/octet-stream"


def _folder(job_id: str) -> str:
    """A job's folder: its id, or ``<campaign>/<line>`` for a campaign line's job (``<campaign>--<line>``)."""
    return job_id.replace("--", "/", 1)


def result_prefix(job_id: str) -> str:
    return f"results/{_folder(job_id)}/"


def output_key(job_id: str) -> str:
    return f"{result_prefix(job_id)}output.mp4"


def speech_key(job_id: str, audio_suffix: str) -> str:
    return f"{result_prefix(job_id)}speech{audio_suffix if audio_suffix in AUDIO_SUFFIXES else '.wav'}"


def result_key(job_id: str) -> str:
    return f"{result_prefix(job_id)}result.json"


def error_key(job_id: str) -> str:
    return f"failed/{_folder(job_id)}/error.json"


def campaign_key(campaign_id: str, name: str) -> str:
    """The campaign's own files: its lines, the items its Map reads, the Map's results."""
    return f"campaigns/{campaign_id}/{name}"
