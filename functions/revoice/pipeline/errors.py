"""Errors a step raises, named so the state machine can tell them apart.

Step Functions sees a Lambda error by its exception class name: ``TransientStepError`` is retried with
backoff; every other class goes straight to the failure recorder. ``str(error)`` is always
``"<errorCode>: <reason>"`` so the recorder can rebuild both from the execution's ``Cause``.
"""

from __future__ import annotations

from revoice.sync.errors import BUSY_CODES, SyncApiError, SyncError, SyncJobFailed

ADVICE = {
    "voice_clone_limit_reached": "All clone slots of the sync. labs plan are in use: delete a voice you no longer "
    "need (DELETE /v2/voices/{id}) or wait for the cleanup schedule, then drop the job again.",
    "voice_sample_invalid": "The source video's audio could not be used to clone a voice: use a clip with clear "
    "speech.",
    "voice_sample_too_short": "The source video has too little speech to clone a voice: use a longer clip.",
    "voice_sample_source_too_large": "Voice samples from video must be 1 GiB or smaller: trim the source video.",
    "generation_plan_duration_exceeded": "The target video is longer than the sync. labs plan allows: trim it or "
    "upgrade the plan.",
    "file_size_exceeds_plan_limit": "The video is larger than the sync. labs plan allows.",
    "elevenlabs_quota_exceeded": "The text-to-speech quota is used up: wait for it to renew or raise it.",
    "unauthorized": "sync. labs refused the API key: put a valid key in the revoice secret.",
    "voice_not_found": "The voice does not exist at sync. labs (it may have been deleted).",
    "payment_required": "The sync. labs plan's monthly allowance is used up, or billing needs attention: check the "
    "plan and invoices at sync. labs.",
}


class StepError(Exception):
    """A step cannot go on. ``code`` is stable (branch on it); ``reason`` is for people."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class JobInputError(StepError):
    """The job itself is wrong (manifest, source video): retrying cannot help."""


class SyncStepError(StepError):
    """sync. labs refused the request or failed the job: retrying cannot help."""


class TransientStepError(StepError):
    """Worth retrying: sync. labs or AWS was busy, slow or unreachable."""


class BusyStepError(TransientStepError):
    """sync. labs is at the plan's rate or concurrency limit: wait and retry for as long as it takes
    (the state machine has a longer retry rule for this class than for other transient errors)."""


class VoiceSlotsBusy(TransientStepError):
    """Every clone slot is held by a running job: the voice step comes back without a voice and the state
    machine waits for one to finish."""


def from_sync(error: SyncError, doing: str) -> StepError:
    """The step error for a sync. labs error met while ``doing`` something."""
    code = error.error_code
    if isinstance(error, SyncJobFailed):
        return SyncStepError(code, f"{doing}: {error.message}")
    detail = error.message if isinstance(error, SyncApiError) else str(error)
    advice = ADVICE.get(code)
    reason = f"{doing}: sync. labs said {detail}" + (f". {advice}" if advice else "")
    if code in BUSY_CODES:
        return BusyStepError(code, reason)
    if error.retryable:
        return TransientStepError(code, reason)
    return SyncStepError(code, reason)


def parse_error_message(message: str) -> tuple[str | None, str]:
    """Split ``"<code>: <reason>"`` back into its parts; messages of other shapes have no code."""
    code, sep, reason = message.partition(": ")
    if sep and code and " " not in code and code.replace("_", "").replace(".", "").isalnum():
        return code, reason
    return None, message
