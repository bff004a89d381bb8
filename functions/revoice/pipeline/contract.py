"""What the state machine and the code share, named once.

The ASL is generated from these (``python -m revoice_local.statemachine --write``) and a test fails
when the file and this module disagree, so a renamed step, error or operation cannot fall through to
``States.ALL`` unnoticed.
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    """Where a job is; the state machine's "<step> failed" states record these as ``failedStep``."""

    QUEUED = "queued"
    INGEST = "ingest"
    FETCH = "fetch"
    PUSH = "push"
    VOICE = "voice"
    SPEECH = "speech"
    LIPSYNC = "lipsync"
    STORE = "store"
    DONE = "done"


# What a job is doing at each step, as people read it (error reasons, the CLI's progress lines).
_DESCRIPTIONS: dict[str, str] = {
    Step.QUEUED: "waiting to start",
    Step.INGEST: "checking the job",
    Step.FETCH: "fetching the source videos",
    Step.PUSH: "pushing the videos to sync. labs",
    Step.VOICE: "choosing or cloning the voice",
    Step.SPEECH: "synthesizing the script",
    Step.LIPSYNC: "lip-syncing the video",
    Step.STORE: "storing the results",
    Step.DONE: "done",
}


def describe_step(step: str) -> str:
    """A stored step's description; a value from an older release is shown as it is."""
    return _DESCRIPTIONS.get(step, step)


class LipsyncOperation(StrEnum):
    """The lip-sync function's three operations; the state machine names the one it wants."""

    GENERATE = "generate"  # start the generation once a slot is held, or check on it
    JOIN_THE_LINE = "joinTheLine"  # wait, with a task token, for a generation slot
    AWAIT_CALLBACK = "awaitCallback"  # park a task token for the completion webhook


# The error a job waiting in line for a generation slot is woken with when no generation was started for
# it (woken to a free slot it must take itself, or sync. labs refused the head start): the state machine
# catches it, as it does a wait that timed out, into asking for its slot and generation itself. A job woken
# with its generation goes on at once, with no step of its own.
WOKEN_TO_ASK = "revoice.WokenToAsk"

CAMPAIGN_AHEAD = 2  # a campaign's lines in flight per generation slot: one generating, one ready to take it


class CampaignOperation(StrEnum):
    """The campaign function's operations, in the order the campaign state machine asks for them."""

    PUSH = "push"  # the source and every distinct target, once
    ESTIMATE = "estimate"  # sync. labs' cost estimate; refuse over max_cost; a dry run stops after it
    VOICE = "voice"  # choose (reuse or clone) the voice, once
    PLAN = "plan"  # one Map item and one job row per line still to run
    BATCH = "batch"  # send the lines' generations as sync. labs batches, then check on them until they end
    REPORT = "report"  # report.csv, summary.json, the voice given back


class GivenUp(StrEnum):
    """Errors the state machine itself raises when a bounded wait runs out (its Pass states)."""

    VOICE_SLOTS_BUSY = "VoiceSlotsBusy"
    SPEECH_TIMEOUT = "SpeechTimeout"
    GENERATION_SLOTS_BUSY = "GenerationSlotsBusy"
    LIPSYNC_TIMEOUT = "LipsyncTimeout"

    @property
    def cause(self) -> str:
        """``"<errorCode>: <reason>"``, as a step's error message is, so the failure recorder reads both."""
        return _CAUSES[self]


_CAUSES = {
    GivenUp.VOICE_SLOTS_BUSY: "voice_clone_slots_busy: no clone could be made for the whole wait (every clone slot "
    "of the sync. labs plan stayed held by running revoice jobs, or the hourly clone limit stayed used up); drop "
    "the job again later or raise the plan's limits",
    GivenUp.SPEECH_TIMEOUT: "tts_timeout: speech synthesis did not finish within the job's polling budget",
    GivenUp.GENERATION_SLOTS_BUSY: "generation_slots_busy: every generation slot of the sync. labs plan stayed in "
    "use for the whole wait; drop the job again later, or raise MaxGenerationWaits or the plan's concurrency",
    GivenUp.LIPSYNC_TIMEOUT: "generation_timeout: the lip-sync generation did not finish within the job's polling "
    "budget",
}

JOB_FAILED = "JobFailed"  # the execution's own error once the failure is recorded
