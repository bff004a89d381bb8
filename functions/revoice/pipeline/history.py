"""Every job fits in an execution's history: Step Functions keeps at most 25,000 events, and an execution
that needs more fails (outside the failure path) however well it was going.

The events a job can write are bounded by its loops: each status check, each wait for a slot, each
retry. This module counts them from the job's configuration, and bounds how many status checks a job
may make, so that a manifest asking for a day of polling every second is polled less often instead.
"""

from __future__ import annotations

import math

from revoice.pipeline.state import RunConfig

HISTORY_LIMIT = 25_000
HISTORY_BUDGET = 20_000  # a fifth kept for what this count leaves out (the end states, late webhooks)
# Events per turn of each loop of the ASL: a Task state writes 5 (entered, scheduled, started, succeeded,
# exited), a callback task 6, a Wait or a Choice 2.
POLL = 2 + 5 + 2  # Wait for lip-sync / speech -> Check -> the ready? Choice
GENERATION_WAIT = 5 + 2 + 6  # Start lip-sync -> Generation started? -> Wait for a generation slot
VOICE_WAIT = 5 + 2 + 2  # Ensure voice -> Voice ready? -> Wait for a clone slot
# The straight path (about 60 events) and every retry the Retry rules allow each of its ten task calls:
# 3 events a retry, 25 busy + 8 transient + 2 crash retries at most.
FIXED = 60 + 10 * 3 * (25 + 8 + 2)


def worst_case_events(config: RunConfig) -> int:
    return (
        FIXED
        + POLL * (config.max_generation_polls + config.max_tts_polls)
        + GENERATION_WAIT * config.max_generation_waits
        + VOICE_WAIT * config.max_slot_waits
    )


def generation_polls_allowed(config: RunConfig) -> int:
    """How many lip-sync status checks fit in the history beside everything else the job may do."""
    others = worst_case_events(config.model_copy(update={"max_generation_polls": 0}))
    return max(1, (HISTORY_BUDGET - others) // POLL)


def polling(timeout_seconds: int, poll_seconds: int, config: RunConfig) -> tuple[int, int]:
    """(poll_seconds, max_generation_polls) covering ``timeout_seconds`` within the history: the interval
    grows when the checks it asks for would not fit."""
    allowed = generation_polls_allowed(config)
    poll_seconds = max(poll_seconds, math.ceil(timeout_seconds / allowed))
    return poll_seconds, max(1, min(allowed, timeout_seconds // poll_seconds))
