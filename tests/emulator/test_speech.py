"""The emulator speaks: its text-to-speech says the script (eSpeak NG), each voice in a voice of its own,
and the lip-synced output's audio track is that speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from revoice.sync import SyncClient
from revoice.sync.models import GenerateRequest, MediaInput, TtsRequest
from revoice_local import media
from revoice_local.speech import SpeakingVoice
from tests.conftest import Samples, upload

LINE = "Hello from revoice! This line was never spoken by the person on screen."
FRAME = media.SPEECH_RATE // 50  # 20 ms


def _frames(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    usable = len(samples) // FRAME * FRAME
    return samples[:usable].reshape(-1, FRAME)


def _loudness(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    loudness: NDArray[np.float32] = np.sqrt(np.mean(_frames(samples) ** 2, axis=1)).astype(np.float32)
    return loudness


def _pitch(samples: NDArray[np.float32]) -> float:
    """The median fundamental of the voiced frames (autocorrelation peak between 60 and 400 Hz)."""
    found = []
    loud = _loudness(samples)
    for frame in _frames(samples)[loud > 0.5 * loud.max()]:
        frame = frame - frame.mean()
        correlation = np.correlate(frame, frame, "full")[len(frame) - 1 :]
        low, high = media.SPEECH_RATE // 400, media.SPEECH_RATE // 60
        found.append(media.SPEECH_RATE / (low + int(np.argmax(correlation[low:high]))))
    return float(np.median(found))


def test_speech_lasts_as_long_as_its_script_takes_to_say() -> None:
    short = media.synthesize_speech("Short line.", "narrator")
    long = media.synthesize_speech(LINE * 3, "narrator")
    assert 1 < len(short) / media.SPEECH_RATE < 3
    assert len(long) > 4 * len(short)


def test_it_is_speech_not_a_tone_words_with_pauses_and_noisy_consonants() -> None:
    samples = media.synthesize_speech(LINE, "narrator")
    loud = _loudness(samples)
    active = loud > 0.1 * loud.max()
    assert 0.5 < active.mean() < 0.97  # mostly sound, with gaps between words
    assert np.count_nonzero(np.diff(active.astype(int)) == 1) >= 6  # bursts: syllables and words
    crossings = np.mean(np.abs(np.diff(np.sign(_frames(samples)[active]), axis=1)) > 0, axis=1)
    assert np.std(crossings) / np.mean(crossings) > 0.3  # vowels and hissing consonants, not one steady sound
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    assert spectrum.max() / spectrum.sum() < 0.05  # no single frequency dominates


def test_each_voice_sounds_like_itself_and_unlike_another() -> None:
    one, other = "revoice-clone-one", "revoice-clone-two"
    assert SpeakingVoice.of(one) == SpeakingVoice.of(one)
    assert SpeakingVoice.of(one) != SpeakingVoice.of(other)
    first, again, theirs = (media.synthesize_speech(LINE, voice) for voice in (one, one, other))
    assert abs(len(first) - len(again)) < 0.02 * len(first)  # eSpeak varies a few samples between calls
    assert abs(_pitch(first) - _pitch(again)) < 3
    assert abs(_pitch(first) - _pitch(theirs)) > 10, (_pitch(first), _pitch(theirs))


def test_the_lip_synced_outputs_audio_is_the_speech_sync_labs_made(
    client: SyncClient, samples: Samples, tmp_path: Path
) -> None:
    voice = str(client.list_voices()[0].id)
    speech = client.synthesize(TtsRequest(script=LINE, voice_id=voice), poll_seconds=0.01)
    assert speech.url
    spoken = tmp_path / "speech.wav"
    with spoken.open("wb") as sink:
        client.download(speech.url, sink)
    video = upload(client, samples.video)
    request = GenerateRequest(
        input=[MediaInput(type="video", asset_id=video.id), MediaInput(type="audio", url=speech.url)]
    )
    done = client.wait_for_generation(client.create_generation(request).id)
    assert done.output_url
    output = tmp_path / "output.mp4"
    with output.open("wb") as sink:
        client.download(done.output_url, sink)
    said, heard = _loudness(media.read_audio(spoken)), _loudness(media.read_audio(output))
    length = min(len(said), len(heard))
    assert length > 0.9 * len(said)
    assert np.corrcoef(said[:length], heard[:length])[0, 1] > 0.9  # the same words, at the same moments


def test_without_the_wheel_or_a_system_library_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctypes.util
    import sys

    from revoice_local import speech

    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # as on a platform the wheel has no build for
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(speech.SpeechError, match="apt install libespeak-ng1"):
        speech._library()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.1")
    assert speech._library() == ("libespeak-ng.so.1", None)  # the system's, with its own data
