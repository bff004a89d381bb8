"""``make demo``: the flagship flow on this machine, through the local stack, with a readable summary.

Two sample talking-head videos are made (a speaker and a presenter), dropped in the bucket with a job
manifest under ``inbox/``; the S3 notification starts the state machine, which clones the speaker's
voice, speaks a new line in it, lip-syncs the presenter to it, and stores the results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.stack.stack import LocalStack

SPEAKER_SCRIPT = "Hi, I am the speaker in this sample clip. Clone my voice from these few sentences, please."
PRESENTER_SCRIPT = "Good morning. I present the news, but today somebody else will lend me a voice."
NEW_LINE = "Hello from revoice! This brand new line was never spoken, yet it comes out in the speaker's own voice."
STEPS = {
    "queued": "queued",
    "push": "pushing videos to sync. labs",
    "voice": "cloning the voice",
    "speech": "synthesizing the new line",
    "lipsync": "lip-syncing the presenter",
    "store": "storing results",
    "done": "done",
}


def run_demo(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    speaker, presenter = out / "speaker.mp4", out / "presenter.mp4"
    media.make_talking_head(speaker, SPEAKER_SCRIPT, voice_id="speaker")
    media.make_talking_head(presenter, PRESENTER_SCRIPT, voice_id="presenter", background=(90, 40, 60))
    began = time.monotonic()
    print("Starting the local stack (moto + the sync. labs emulator) from infra/template.yaml ...")
    with LocalStack(EmulatorConfig(time_scale=0.1), parameters={"LogLevel": "ERROR"}) as stack:
        print(f"  jobs bucket   s3://{stack.bucket}\n  sync. labs    {stack.emulator.url} (emulated)")
        stack.s3.upload_file(str(speaker), stack.bucket, "media/speaker.mp4")
        stack.s3.upload_file(str(presenter), stack.bucket, "media/presenter.mp4")
        manifest = {
            "source": "media/speaker.mp4",
            "target": "media/presenter.mp4",
            "script": NEW_LINE,
            "output_name": "revoice_demo",
            "voice_name": "demo speaker",
        }
        stack.s3.put_object(Bucket=stack.bucket, Key="inbox/demo.json", Body=json.dumps(manifest).encode())
        print("Dropped inbox/demo.json; following the job:")
        job_id = _follow(stack, began)
        end = stack.wait_for_job(job_id, timeout=120)
        if end.result is None:
            error = end.error or {}
            print(f"\nThe job failed at step {error.get('step')}: {error.get('errorCode')}: {error.get('reason')}")
            return 1
        for name, key in (
            ("output.mp4", end.result["outputs"]["video"]),
            ("speech.wav", end.result["outputs"]["speech"]),
            ("result.json", f"results/{job_id}/result.json"),
        ):
            stack.s3.download_file(stack.bucket, key, str(out / name))
    _summary(out, end.result, time.monotonic() - began)
    return 0


def _follow(stack: LocalStack, began: float) -> str:
    """Print each step as the job table records it; return the job id."""
    deadline = time.monotonic() + 120
    while not (listed := stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]):
        if time.monotonic() > deadline:
            raise TimeoutError("the S3 notification did not start an execution")
        time.sleep(0.05)
    job_id = str(listed[0]["name"])
    print(f"  job id        {job_id}")
    seen = None
    while time.monotonic() < deadline:
        record = stack.job(job_id) or {}
        step = record.get("step")
        if step != seen and step is not None:
            print(f"  {time.monotonic() - began:6.1f}s  {STEPS.get(str(step), step)}")
            seen = step
        if record.get("status") in ("SUCCEEDED", "FAILED", "REJECTED"):
            break
        time.sleep(0.1)
    return job_id


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
