"""The audio test upstreams' tone code and whisper.cpp answer shapes, offline."""

from __future__ import annotations

import io
import itertools
import struct
import wave

import pytest

from llamaswap_rig.upstreams.tones import (
    RATE,
    SLOT,
    decode_segments,
    encode_wav,
    pcm_bytes,
    read_wav,
)
from llamaswap_rig.upstreams.whisper import render


def test_text_round_trips_through_the_samples_with_one_segment_per_sentence() -> None:
    text = "Grüße aus Köln. 42 ships?  Yes!"
    segments = decode_segments(read_wav(encode_wav(text, 0.2)))
    assert [s.text for s in segments] == ["Grüße aus Köln.", "42 ships?", "Yes!"]
    assert all(a.end < b.start for a, b in itertools.pairwise(segments))
    # two 20 ms tones per UTF-8 byte
    assert segments[1].end - segments[1].start == pytest.approx(9 * 2 * SLOT / RATE)


def test_decoding_reads_the_samples_not_a_label() -> None:
    samples = list(struct.unpack(f"<{len(pcm_bytes('AB')) // 2}h", pcm_bytes("AB")))
    # replace the tones of the last nibble of 'B' (0x42 -> 0x41) with those of 'A'
    first_a_low = 2 * SLOT + SLOT  # lead silence, 'A' high nibble, then 'A' low nibble
    last = len(samples) - 2 * SLOT - SLOT  # before the trailing silence
    samples[last : last + SLOT] = samples[first_a_low : first_a_low + SLOT]
    assert [s.text for s in decode_segments(samples)] == ["AA"]


def test_only_16khz_mono_16bit_wav_is_read() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"\x00" * 64)
    with pytest.raises(ValueError, match="expected 16 kHz mono 16-bit WAV"):
        read_wav(buffer.getvalue())
    with pytest.raises(ValueError, match="not a WAV file"):
        read_wav(b"ID3 mp3 bytes")


def test_whisper_answer_formats() -> None:
    segments = decode_segments(read_wav(encode_wav("One. Two.")))
    verbose = render("verbose_json", segments, "english", 1.0)
    assert verbose["text"] == " One. Two."
    assert [s["text"] for s in verbose["segments"]] == [" One.", " Two."]
    assert render("json", segments, "english", 1.0) == {"text": " One. Two."}
    assert render("text", segments, "english", 1.0) == "One. Two.\n"
    srt = render("srt", segments, "english", 1.0)
    assert srt.startswith("1\n00:00:00,040 --> 00:00:00,")
    assert render("vtt", segments, "english", 1.0).startswith("WEBVTT\n\n00:00:00.040 --> ")
