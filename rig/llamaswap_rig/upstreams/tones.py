"""The tone code the speech and whisper *test upstreams* share. NOT speech synthesis.

Text becomes a 16 kHz mono 16-bit WAV: each UTF-8 byte is two 20 ms tones, one per nibble,
at one of 16 frequencies (800 Hz + 200 Hz x nibble); sentences are separated by 160 ms of
silence. Decoding reads the samples back (Goertzel power at the 16 frequencies in each
20 ms slot; silence splits segments), so a transcription really comes from the audio and
a WAV with its header or samples broken does not transcribe to the text.
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from dataclasses import dataclass

RATE = 16_000
SLOT = 320  # samples per nibble tone (20 ms); 16 kHz / 320 = 50 Hz bins, so tones are exact
GAP_SLOTS = 8  # silence between sentences (160 ms)
LEAD_SLOTS = 2  # silence before the first and after the last tone
FREQUENCIES = tuple(800 + 200 * k for k in range(16))
SILENCE_RMS = 200.0
SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Segment:
    """A decoded stretch of tones: its text and where it sits, in seconds."""

    text: str
    start: float
    end: float


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after ``.``, ``!`` or ``?``), blanks dropped."""
    return [part.strip() for part in SENTENCE.split(text.strip()) if part.strip()]


def encode_samples(text: str, amplitude: float) -> list[int]:
    """16-bit samples for ``text``: nibble tones per sentence, silence between."""
    peak = int(32767 * amplitude)
    tone_cache: dict[int, list[int]] = {}

    def tone(nibble: int) -> list[int]:
        if nibble not in tone_cache:
            step = 2 * math.pi * FREQUENCIES[nibble] / RATE
            tone_cache[nibble] = [int(peak * math.sin(step * i)) for i in range(SLOT)]
        return tone_cache[nibble]

    samples = [0] * (SLOT * LEAD_SLOTS)
    for index, sentence in enumerate(sentences(text)):
        if index:
            samples += [0] * (SLOT * GAP_SLOTS)
        for byte in sentence.encode("utf-8"):
            samples += tone(byte >> 4) + tone(byte & 0x0F)
    samples += [0] * (SLOT * LEAD_SLOTS)
    return samples


def encode_wav(text: str, amplitude: float = 0.5) -> bytes:
    """A WAV file that speaks ``text`` in the tone code."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm_bytes(text, amplitude))
    return buffer.getvalue()


def pcm_bytes(text: str, amplitude: float = 0.5) -> bytes:
    """Raw little-endian 16-bit samples (the ``pcm`` response format)."""
    samples = encode_samples(text, amplitude)
    return struct.pack(f"<{len(samples)}h", *samples)


def read_wav(data: bytes) -> list[int]:
    """The samples of a 16 kHz mono 16-bit WAV; ``ValueError`` for anything else."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a WAV file ({exc})") from None
    if shape != (1, 2, RATE):
        raise ValueError(f"expected 16 kHz mono 16-bit WAV, got {shape}")
    count = len(frames) // 2
    return list(struct.unpack(f"<{count}h", frames[: count * 2]))


def _goertzel(block: list[int], frequency: int) -> float:
    coeff = 2 * math.cos(2 * math.pi * frequency / RATE)
    s1 = s2 = 0.0
    for sample in block:
        s1, s2 = sample + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def decode_segments(samples: list[int]) -> list[Segment]:
    """Read the tone code back: one segment per run of tones between silences."""
    segments: list[Segment] = []
    nibbles: list[int] = []
    start = 0
    slots = len(samples) // SLOT

    def close(end_slot: int) -> None:
        if nibbles:
            raw = bytes((hi << 4) | lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=False))
            segments.append(
                Segment(raw.decode("utf-8", "replace"), start * SLOT / RATE, end_slot * SLOT / RATE)
            )
            nibbles.clear()

    for slot in range(slots):
        block = samples[slot * SLOT : (slot + 1) * SLOT]
        rms = math.sqrt(sum(s * s for s in block) / SLOT)
        if rms < SILENCE_RMS:
            close(slot)
            continue
        if not nibbles:
            start = slot
        powers = [_goertzel(block, f) for f in FREQUENCIES]
        nibbles.append(max(range(16), key=powers.__getitem__))
    close(slots)
    return segments
