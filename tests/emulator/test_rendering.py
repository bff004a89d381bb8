"""The emulator's lip-sync renders run in processes of their own, and outlive one that dies."""

from __future__ import annotations

import os
from pathlib import Path

from revoice_local import media
from revoice_local.emulator import rendering


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    target, audio = tmp_path / "target.mp4", tmp_path / "line.wav"
    media.make_talking_head(target, "The target clip.")
    media.write_wav(audio, media.synthesize_speech("A new line in the speaker's voice.", "narrator"))
    return target, audio


def test_a_render_in_its_own_process_writes_a_playable_output_as_long_as_the_audio(tmp_path: Path) -> None:
    target, audio = _inputs(tmp_path)
    out = tmp_path / "out.mp4"
    duration = rendering.lipsync(target, audio, out, "bounce")
    info = media.probe(out, ".mp4")
    assert info is not None
    assert info.has_video
    assert info.has_audio
    assert abs(info.duration - duration) < 0.1
    assert abs(duration - len(media.read_audio(audio)) / media.SPEECH_RATE) < 0.1
    assert rendering._pool().submit(os.getpid).result() != os.getpid()


def test_a_render_process_that_dies_is_replaced_and_the_next_render_succeeds(tmp_path: Path) -> None:
    target, audio = _inputs(tmp_path)
    rendering.lipsync(target, audio, tmp_path / "first.mp4", "loop")
    for process in list(rendering._pool()._processes.values()):  # what an OOM kill does
        process.kill()
        process.join()
    assert rendering.lipsync(target, audio, tmp_path / "second.mp4", "loop") > 0
    assert media.probe(tmp_path / "second.mp4", ".mp4") is not None
