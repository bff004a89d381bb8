"""``make demo``: the flagship flow on this machine, through the local stack, with a readable summary.

Two sample talking-head videos are made (a speaker and a presenter), dropped in the bucket with a job
manifest under ``inbox/``; the S3 notification starts the state machine, which clones the speaker's
voice, speaks a new line in it, lip-syncs the presenter to it, and stores the results.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.jobs_cli import download_results, follow, submit
from revoice_local.stack.stack import LocalStack

SPEAKER_SCRIPT = "Hi, I am the speaker in this sample clip. Clone my voice from these few sentences, please."
PRESENTER_SCRIPT = "Good morning. I present the news, but today somebody else will lend me a voice."
# The functions one job from the inbox runs (the S3 trigger, the state machine's steps, the completion
# webhook): started ahead; the others start on first use. On two cores this saves about 3 s of the demo.
ONE_JOBS_FUNCTIONS = (
    "IngestFunction",
    "PushFunction",
    "VoiceFunction",
    "SpeechFunction",
    "LipsyncFunction",
    "StoreFunction",
    "WebhookFunction",
)
NEW_LINE = "Hello from revoice! This brand new line was never spoken, yet it comes out in the speaker's own voice."


def run_demo(out: Path, serve: bool = False) -> int:
    """The flagship flow on the local stack; ends with the console's page of the job (served until Ctrl-C
    when ``serve``)."""
    out.mkdir(parents=True, exist_ok=True)
    speaker, presenter = out / "speaker.mp4", out / "presenter.mp4"
    media.make_talking_head(speaker, SPEAKER_SCRIPT, voice_id="speaker")
    media.make_talking_head(presenter, PRESENTER_SCRIPT, voice_id="presenter", background=(90, 40, 60))
    began = time.monotonic()
    print("Starting the local stack (moto + the sync. labs emulator) from infra/template.yaml ...")
    stack = LocalStack(
        EmulatorConfig(time_scale=0.1),
        parameters={"LogLevel": "ERROR"},
        prewarm=ONE_JOBS_FUNCTIONS,
        function_log_level=logging.ERROR,
    )
    with stack:
        print(f"  jobs bucket   s3://{stack.bucket}\n  sync. labs    {stack.emulator.url} (emulated)")
        target = stack.target()
        fields = {
            "target": str(presenter),
            "script": NEW_LINE,
            "output_name": "revoice_demo",
            "voice_name": "demo speaker",
        }
        submitted = submit(target, str(speaker), fields)
        print(f"Dropped {submitted.manifest_key}; following the job:")
        record = follow(target, submitted.job_ids, print, timeout=120)
        job_id = str(record["jobId"])
        end = stack.wait_for_job(job_id, timeout=120)
        if end.result is None:
            error = end.error or {}
            print(f"\nThe job failed at step {error.get('step')}: {error.get('errorCode')}: {error.get('reason')}")
            return 1
        download_results(target, job_id, out)
        _summary(out, end.result, time.monotonic() - began)
        if serve:
            print(f"\nWatch and hear it in the console (Ctrl-C stops the local stack):\n  {stack.console_url(job_id)}")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        else:
            print("\n(Run in a terminal, or with --serve yes, to keep the stack up and open this job in the console.)")
    return 0


def _summary(out: Path, result: dict[str, object], took: float) -> None:
    info = media.probe(out / "output.mp4", ".mp4")
    timings = result["timings"]
    assert isinstance(timings, dict)
    voice = result["voice"]
    assert isinstance(voice, dict)
    print(f"\nDone in {took:.1f}s. Job {result['jobId']}")
    print(f"  voice     {voice['id']} ({voice['name']})")
    print("  steps     " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in timings.items()))
    if info is not None:
        print(f"  video     {out / 'output.mp4'}  ({info.duration:.1f}s, {info.width}x{info.height}, H.264 + AAC)")
    print(f"  speech    {out / 'speech.wav'}\n  result    {out / 'result.json'}")
