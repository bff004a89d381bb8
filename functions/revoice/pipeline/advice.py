"""What to do about each error code, in words, for the people who meet it (the console, ``GET /jobs/{id}``).

The same sentences are the "what to do" column of docs/troubleshooting.md; a test holds the two together.
"""

from __future__ import annotations

ADVICE: dict[str, str] = {
    "invalid_manifest": "fix the field the reason names and drop it again",
    "missing_script": "add the metadata, or use a manifest",
    "unsupported_file": "use `.json`, `.mp4`, `.mov`, `.webm` or `.avi`",
    "source_missing": "upload it, check the key",
    "source_access_denied": "copy the video into the bucket, or grant the stack's roles access",
    "empty_source": "upload the real file",
    "not_a_video": "upload the real file",
    "source_too_large": "trim or compress the video",
    "unsafe_url": "use a public https URL, or upload to the bucket",
    "unreachable_url": "use a public https URL, or upload to the bucket",
    "source_url_failed": "use a public https URL, or upload to the bucket",
    "source_url_unavailable": "check the remote host; drop the job again",
    "download_interrupted": "check the remote host; drop the job again",
    "invalid_idempotency_key": "send a valid key",
    "voice_clone_limit_reached": "delete one at sync. labs, or raise the plan's limit",
    "voice_clone_slots_busy": "drop the job again later; raise `MaxSlotWaits`",
    "rate_limit_exceeded": (
        "something else uses the same account's limits: lower `PlanConcurrency`, or drop the job again later"
    ),
    "concurrency_limit_reached": (
        "something else uses the same account's limits: lower `PlanConcurrency`, or drop the job again later"
    ),
    "generation_slots_busy": "drop the job again later; raise `MaxGenerationWaits`, or `PlanConcurrency` with the plan",
    "voice_sample_invalid": "use a clip with more clear speech",
    "voice_sample_too_short": "use a clip with more clear speech",
    "voice_not_found": "`revoice voices list` shows what does",
    "voice_restricted": "verify the voice at sync. labs, or name another",
    "payment_required": "check the plan and invoices at sync. labs",
    "elevenlabs_quota_exceeded": "wait for it to renew or raise it",
    "generation_plan_duration_exceeded": "trim it or upgrade the plan",
    "generation_failed": "read the reason; try another clip or model",
    "generation_rejected": "read the reason; try another clip or model",
    "generation_timeout": "raise `timeout_seconds` or `MaxGenerationPolls`",
    "tts_timeout": "raise `timeout_seconds` or `MaxGenerationPolls`",
    "step_timeout": "see the step; drop the job again",
    "execution_timeout": "see the step; drop the job again",
    "execution_aborted": "see the step; drop the job again",
    "execution_failed": "see the step; drop the job again",
    "function_timeout": (
        "read the reason; raise the function's `Timeout` or `MemorySize` in the template, or rebuild with `make build`"
    ),
    "function_out_of_memory": (
        "read the reason; raise the function's `Timeout` or `MemorySize` in the template, or rebuild with `make build`"
    ),
    "function_crashed": (
        "read the reason; raise the function's `Timeout` or `MemorySize` in the template, or rebuild with `make build`"
    ),
    "function_broken": (
        "read the reason; raise the function's `Timeout` or `MemorySize` in the template, or rebuild with `make build`"
    ),
    "function_response_too_large": (
        "read the reason; raise the function's `Timeout` or `MemorySize` in the template, or rebuild with `make build`"
    ),
    "unauthorized": "put a valid key in the stack's secret",
    "invalid_campaign": "fix every listed line and drop the file again",
    "campaign_over_budget": "raise `max_cost`, or split the campaign",
    "campaign_lines_failed": "fix what they say, then drop the same file again: only those lines run",
    "internal_error": "report it with the job id",
}


def advice_for(code: str | None) -> str | None:
    """What to do about ``code``; sync. labs' own generation codes get the generation advice."""
    if code is None:
        return None
    return ADVICE.get(code) or (ADVICE["generation_failed"] if code.startswith("generation_") else None)
