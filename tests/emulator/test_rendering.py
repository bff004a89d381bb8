"""The emulator's lip-sync renders run in processes of their own, answer what they cannot render, and
outlive a process that dies."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

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
    duration = rendering.processes.lipsync(target, audio, out, "bounce")
    assert rendering.processes._all  # rendered by a render process, not in this one
    info = media.probe(out, ".mp4")
    assert info is not None
    assert info.has_video
    assert info.has_audio
    assert abs(info.duration - duration) < 0.1
    assert abs(duration - len(media.read_audio(audio)) / media.SPEECH_RATE) < 0.1


def test_a_render_process_that_dies_is_replaced_and_the_next_render_succeeds(tmp_path: Path) -> None:
    target, audio = _inputs(tmp_path)
    renders = rendering.RenderProcesses(size=1)
    renders.lipsync(target, audio, tmp_path / "first.mp4", "loop")
    for process in renders._all:  # what an OOM kill does
        process.kill()
    assert renders.lipsync(target, audio, tmp_path / "second.mp4", "loop") > 0
    assert media.probe(tmp_path / "second.mp4", ".mp4") is not None
    renders.close()


def test_inputs_it_cannot_render_are_its_answer_and_the_process_serves_the_next(tmp_path: Path) -> None:
    target, audio = _inputs(tmp_path)
    renders = rendering.RenderProcesses(size=1)
    with pytest.raises(rendering.RenderFailed, match=r"missing\.wav"):
        renders.lipsync(target, tmp_path / "missing.wav", tmp_path / "out.mp4", "bounce")
    (started,) = renders._all
    assert renders.lipsync(target, audio, tmp_path / "out.mp4", "bounce") > 0
    assert renders._all == [started]
    renders.close()


def test_warming_starts_a_process_once_and_never_waits_for_a_busy_one(tmp_path: Path) -> None:
    renders = rendering.RenderProcesses(size=1)
    renders.warm()
    renders.warm()
    (started,) = renders._all
    busy = renders._idle.get()  # the only place, as a render holds it
    warming = threading.Thread(target=renders.warm, daemon=True)
    warming.start()
    warming.join(timeout=10)
    assert not warming.is_alive()
    renders._idle.put(busy)
    assert renders._all == [started]
    renders.close()
