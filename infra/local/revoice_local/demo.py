"""``make demo``: the flagship flow on this machine, against the emulator, with a readable summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from revoice.sync import SyncClient
from revoice.sync.models import GenerateRequest, MediaInput, TtsRequest
from revoice_local import media
from revoice_local.emulator.config import EmulatorConfig
from revoice_local.emulator.server import EmulatorServer

SAMPLE_SCRIPT = "Hi, I am the speaker in this sample clip. Clone my voice from these few sentences, please."
NEW_SCRIPT = "Hello from revoice! This brand new line was never spoken, yet it comes out in my own voice."


def run_demo(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    sample = out / "talking-head.mp4"
    media.make_talking_head(sample, SAMPLE_SCRIPT)
    timings: dict[str, float] = {}
    with (
        EmulatorServer(EmulatorConfig(time_scale=0.1)) as server,
        SyncClient(server.config.api_key, base_url=server.url) as client,
    ):
        print(f"sync. labs emulator on {server.url}")

        def step(name: str, started: float) -> None:
            timings[name] = round(time.monotonic() - started, 2)
            print(f"  {name:<10} {timings[name]:>6.2f}s")

        started = time.monotonic()
        asset = client.upload_file(str(sample), content_type="video/mp4", asset_type="VIDEO")
        step("upload", started)
        started = time.monotonic()
        voice = client.clone_voice(f"revoice-demo-{int(time.time())}", asset_id=asset.id)
        step("clone", started)
        started = time.monotonic()
        speech = client.synthesize(TtsRequest(script=NEW_SCRIPT, voice_id=voice.id), poll_seconds=0.2)
        step("tts", started)
        started = time.monotonic()
        request = GenerateRequest(
            input=[MediaInput(type="video", asset_id=asset.id), MediaInput(type="audio", url=speech.url)],
            options={"sync_mode": "bounce"},
            output_file_name="revoice-demo",
        )
        generation = client.wait_for_generation(client.create_generation(request, idempotency_key="demo").id)
        step("lipsync", started)
        if not generation.succeeded or generation.output_url is None or speech.url is None:
            print(f"generation ended {generation.status}: {generation.error}")
            return 1
        started = time.monotonic()
        with (out / "output.mp4").open("wb") as sink:
            client.download(generation.output_url, sink)
        with (out / "speech.wav").open("wb") as sink:
            client.download(speech.url, sink)
        step("download", started)
        client.delete_voice(voice.id)
    result = {
        "voiceId": voice.id,
        "ttsId": speech.id,
        "generationId": generation.id,
        "outputDuration": generation.output_duration,
        "timings": timings,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    info = media.probe(out / "output.mp4", ".mp4")
    print(
        f"\nDone: {out / 'output.mp4'} ({info.duration if info else '?'}s, {info.width}x{info.height})"
        if info
        else f"\nDone: {out / 'output.mp4'}"
    )
    print(f"      {out / 'speech.wav'}\n      {out / 'result.json'}")
    return 0
