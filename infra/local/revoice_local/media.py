"""Real media for the emulator and the demo: speech, talking-head video, lip-synced output.

Everything here produces files a player opens (WAV, H.264/AAC MP4) with PyAV (FFmpeg) and NumPy. The
speech says the script (eSpeak NG, ``speech.py``, a voice of its own per voice id), and the "lip sync"
draws a mouth whose opening follows that speech's loudness: enough to hear the new line and see that
the pipeline worked.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

SPEECH_RATE = 22_050
OUTPUT_AUDIO_RATE = 44_100
FPS = 25
MAX_KEPT_FRAMES = 300  # frames of the target kept for looping: bounds the emulator's memory
MAX_WIDTH = 480

Samples = NDArray[np.float32]
Frame = NDArray[np.uint8]


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration: float
    has_audio: bool
    has_video: bool
    width: int | None = None
    height: int | None = None


def probe(path: Path, suffix: str = "") -> MediaInfo | None:
    """What FFmpeg makes of a file, or None when it is not media at all."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            duration = container.duration / av.time_base if container.duration else 0.0
            if not duration and video is not None and video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            return MediaInfo(
                format=_format_name(container.format.name, suffix),
                duration=round(duration, 3),
                has_audio=audio is not None,
                has_video=video is not None,
                width=video.codec_context.width if video else None,
                height=video.codec_context.height if video else None,
            )
    except (av.FFmpegError, IndexError, ValueError, OSError):
        return None


def _format_name(names: str, suffix: str) -> str:
    """FFmpeg names a family ("mov,mp4,m4a"); answer the member the file's suffix asks for."""
    family = names.split(",")
    wanted = suffix.lower().lstrip(".")
    return wanted if wanted in family else family[0]


def synthesize_speech(script: str, voice_id: str) -> Samples:
    """``script`` spoken in ``voice_id``'s voice, with a short silence before and after."""
    from revoice_local.speech import RATE, speak

    assert RATE == SPEECH_RATE
    silence = np.zeros(int(0.15 * SPEECH_RATE), np.float32)
    return np.concatenate([silence, speak(script, voice_id), silence])


def write_wav(path: Path, samples: Samples, rate: int = SPEECH_RATE) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def read_audio(path: Path, rate: int = SPEECH_RATE) -> Samples:
    """Decode any audio (or a video's audio track) to mono float samples at ``rate``."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.float32)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def make_talking_head(
    path: Path,
    script: str,
    voice_id: str = "speaker",
    size: tuple[int, int] = (320, 240),
    background: tuple[int, int, int] = (40, 70, 110),
) -> None:
    """A short talking-head clip: a face whose mouth moves with its own synthesised voice."""
    audio = synthesize_speech(script, voice_id)
    duration = len(audio) / SPEECH_RATE
    width, height = size
    base = _face_canvas(width, height, background)
    total = max(1, int(duration * FPS))
    frames = (_with_mouth(base, level) for level in _frame_loudness(audio, total))
    _encode(path, frames, audio, SPEECH_RATE, width, height)


def render_lipsync(target: Path, audio_path: Path, out: Path, sync_mode: str = "bounce") -> float:
    """Lay ``audio_path`` over ``target`` and move a mouth to it; return the output's duration.

    ``sync_mode`` decides what happens when the two lengths differ, as the API documents:
    bounce/loop/remap fit the video to the audio, cut_off stops at the shorter, silence pads the audio.
    """
    audio = read_audio(audio_path)
    frames, width, height = _read_frames(target)
    if not frames:
        frames, width, height = [_face_canvas(320, 240)], 320, 240
    video_seconds = len(frames) / FPS
    audio_seconds = len(audio) / SPEECH_RATE
    if sync_mode == "cut_off":
        seconds = min(video_seconds, audio_seconds)
    elif sync_mode == "silence":
        seconds = video_seconds
    else:
        seconds = audio_seconds
    total = max(1, round(seconds * FPS))
    wanted = int(seconds * SPEECH_RATE)
    audio = np.pad(audio, (0, max(0, wanted - len(audio))))[:wanted]
    loudness = _frame_loudness(audio, total)
    order = _frame_order(len(frames), total, sync_mode)
    _encode(out, (_with_mouth(frames[i], loudness[n]) for n, i in enumerate(order)), audio, SPEECH_RATE, width, height)
    return round(total / FPS, 3)


# -- internals ---------------------------------------------------------------------------------------


def _face_canvas(width: int, height: int, background: tuple[int, int, int] = (40, 70, 110)) -> Frame:
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = background
    cx, cy, r = width / 2, height / 2, min(width, height) * 0.38
    frame[((x - cx) / r) ** 2 + ((y - cy) / (r * 1.15)) ** 2 <= 1] = (232, 190, 160)
    for ex in (cx - r * 0.38, cx + r * 0.38):
        frame[(x - ex) ** 2 + (y - (cy - r * 0.3)) ** 2 <= (r * 0.1) ** 2] = (30, 30, 30)
    return frame


def _with_mouth(frame: Frame, loudness: float) -> Frame:
    height, width = frame.shape[:2]
    out = frame.copy()
    cx, cy = width // 2, int(height * 0.68)
    half_w = max(2, width // 10)
    half_h = 1 + int(loudness * height * 0.07)
    out[cy - half_h : cy + half_h + 1, cx - half_w : cx + half_w + 1] = (120, 20, 30)
    return out


def _frame_loudness(audio: Samples, frames: int) -> list[float]:
    per = max(1, len(audio) // frames) if len(audio) else 1
    levels = []
    for n in range(frames):
        chunk = audio[n * per : (n + 1) * per]
        levels.append(float(np.sqrt(np.mean(chunk**2))) if len(chunk) else 0.0)
    peak = max(levels) or 1.0
    return [level / peak for level in levels]


def _frame_order(available: int, total: int, sync_mode: str) -> list[int]:
    if sync_mode == "remap":
        return [min(available - 1, int(n * available / total)) for n in range(total)]
    if sync_mode == "bounce" and available > 1:
        period = 2 * available - 2
        return [n % period if n % period < available else period - n % period for n in range(total)]
    return [n % available for n in range(total)]


def _read_frames(path: Path) -> tuple[list[Frame], int, int]:
    frames: list[Frame] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return [], 0, 0
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width > MAX_WIDTH:
                width, height = MAX_WIDTH, int(height * MAX_WIDTH / width)
            width, height = width - width % 2, height - height % 2
            for frame in container.decode(stream):
                frames.append(np.asarray(frame.to_ndarray(format="rgb24", width=width, height=height), np.uint8))
                if len(frames) >= MAX_KEPT_FRAMES:
                    break
    except (av.FFmpegError, OSError):
        return [], 0, 0
    return frames, width, height


def _encode(path: Path, frames: object, audio: Samples, rate: int, width: int, height: int) -> None:
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "28"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=OUTPUT_AUDIO_RATE, layout="mono")
        for image in frames:  # type: ignore[attr-defined]
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=OUTPUT_AUDIO_RATE)
        fifo = av.AudioFifo()
        source = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        source.sample_rate = rate
        source.time_base = Fraction(1, rate)
        for out in resampler.resample(source) + resampler.resample(None):
            out.pts = None
            fifo.write(out)
        pts = 0
        while fifo.samples:
            chunk = fifo.read(min(1024, fifo.samples), partial=True)
            if chunk is None:
                break
            chunk.pts = pts
            pts += chunk.samples
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
