"""Speech that says the script, for the emulator's text-to-speech and the demo's speakers: eSpeak NG,
whose library and data ``espeakng-loader`` bundles (no system package), called through ctypes.

Each voice gets its own recognisable variant (an eSpeak voice variant, a pitch and a speed) derived from
its id, so two clones sound different and the same clone always sounds the same. One engine serves the
process behind a lock: the library keeps one current voice and is not thread-safe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

RATE = 22_050  # eSpeak NG's own output rate
SAMPLE_BYTES = 2  # 16-bit mono
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
RATE_PARAMETER, PITCH_PARAMETER, RANGE_PARAMETER = 1, 3, 4
POS_CHARACTER, CHARS_UTF8 = 1, 1
_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SpeechError(RuntimeError):
    """eSpeak NG could not be loaded or refused the text."""


@dataclass(frozen=True)
class SpeakingVoice:
    """How one voice id sounds: ``en-us+<variant>`` at a pitch (0-99) and a speed (words per minute)."""

    variant: str
    pitch: int
    words_per_minute: int

    @classmethod
    def of(cls, voice_id: str) -> SpeakingVoice:
        digest = hashlib.sha256(voice_id.encode()).digest()
        return cls(VARIANTS[digest[0] % len(VARIANTS)], 25 + digest[1] % 50, 150 + digest[2] % 36)


def _library() -> tuple[str, bytes | None]:
    """The eSpeak NG library and the folder holding its data: the wheel's (Linux x86-64, macOS on Apple
    silicon, Windows), else the system's (Debian's libespeak-ng1, Homebrew's espeak-ng) with its own data."""
    try:
        import espeakng_loader
    except ImportError:
        found = ctypes.util.find_library("espeak-ng")
        if found is None:
            raise SpeechError(
                "the emulator's speech needs eSpeak NG, which has no wheel for this platform: install the "
                "library (apt install libespeak-ng1, or brew install espeak-ng)"
            ) from None
        return found, None
    return espeakng_loader.get_library_path(), str(Path(espeakng_loader.get_data_path()).parent).encode()


class _Engine:
    def __init__(self) -> None:
        library, home = _library()
        self._lib = ctypes.CDLL(library)
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, home, INITIALIZE_DONT_EXIT)
        if rate != RATE:
            raise SpeechError(f"eSpeak NG did not start (it answered {rate})")
        self._chunks: list[NDArray[np.int16]] = []
        self._callback = _Callback(self._collect)  # kept: the library holds only the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0:  # copied as bytes: numpy's as_array makes (and keeps) a ctypes type for every length
            self._chunks.append(np.frombuffer(ctypes.string_at(wav, count * SAMPLE_BYTES), dtype=np.int16))
        return 0  # go on

    def speak(self, text: str, voice: SpeakingVoice) -> NDArray[np.float32]:
        encoded = text.encode()
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(f"en-us+{voice.variant}".encode()) != 0:
                raise SpeechError(f"eSpeak NG has no voice en-us+{voice.variant}")
            self._lib.espeak_SetParameter(RATE_PARAMETER, voice.words_per_minute, 0)
            self._lib.espeak_SetParameter(PITCH_PARAMETER, voice.pitch, 0)
            self._lib.espeak_SetParameter(RANGE_PARAMETER, 60, 0)
            if self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None) != 0:
                raise SpeechError("eSpeak NG refused the text")
            self._lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


@cache
def _engine() -> _Engine:
    return _Engine()


def speak(script: str, voice_id: str) -> NDArray[np.float32]:
    """``script`` said in ``voice_id``'s voice: mono float samples at :data:`RATE`."""
    return _engine().speak(script, SpeakingVoice.of(voice_id))
