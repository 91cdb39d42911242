"""Speech, transcription and voices through llama-swap, on the audio test upstreams.

``tts`` writes the tone code of ``llamaswap_rig.upstreams.tones`` and ``whisper`` reads it
back from the samples: a round trip recovers the text only if the audio bytes travelled
intact through llama-swap both ways (JSON in and audio out; multipart in and JSON out).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamaswap import APIError, LlamaSwapProvider, NotFoundError
from llamaswap_rig.runner import Rig

TEXT = "The keeper lit the lamp. Ships passed safely! Did anyone thank him?"
SENTENCES = ["The keeper lit the lamp.", "Ships passed safely!", "Did anyone thank him?"]


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def test_speech_then_transcribe_recovers_the_text_with_segments(
    provider: LlamaSwapProvider, tmp_path: Path
) -> None:
    speech = provider.speech(TEXT, model="tts", voice="soft", format="wav")
    assert speech.mime_type == "audio/wav"
    assert speech.data.startswith(b"RIFF")
    assert speech.duration is not None and speech.duration > 1.0

    transcript = provider.transcribe(speech, model="whisper", language="en")
    assert transcript.text == TEXT
    assert [s.text for s in transcript.segments] == SENTENCES
    assert transcript.language == "english"
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    assert all(s.start < s.end for s in transcript.segments)
    assert transcript.duration == pytest.approx(speech.duration)

    # the same audio from a saved file
    path = speech.save(tmp_path / "keeper.wav")
    assert provider.transcribe(path, model="whisper").text == TEXT


async def test_aspeech_then_atranscribe_recovers_the_text(provider: LlamaSwapProvider) -> None:
    speech = await provider.aspeech("Ahoy. Async works.", model="tts")
    assert speech.mime_type == "audio/wav"  # the test upstream's default format
    transcript = await provider.atranscribe(speech.data, model="whisper")
    assert transcript.text == "Ahoy. Async works."
    assert [s.text for s in transcript.segments] == ["Ahoy.", "Async works."]


def test_voices_lists_the_speech_models_voices(provider: LlamaSwapProvider) -> None:
    assert provider.voices("tts") == ["tone", "soft", "loud"]


async def test_avoices(provider: LlamaSwapProvider) -> None:
    assert await provider.avoices("tts") == ["tone", "soft", "loud"]


def test_pcm_speech_is_the_wavs_samples_without_a_header(provider: LlamaSwapProvider) -> None:
    wav = provider.speech("pcm please", model="tts", format="wav")
    raw = provider.speech("pcm please", model="tts", format="pcm")
    assert raw.mime_type == "audio/pcm"
    with wave.open(io.BytesIO(wav.data)) as reader:
        assert raw.data == reader.readframes(reader.getnframes())


def test_unknown_voice_is_refused_with_the_servers_reason(provider: LlamaSwapProvider) -> None:
    with pytest.raises(APIError) as info:
        provider.speech("hi", model="tts", voice="baritone")
    assert info.value.status_code == 400
    assert "voice 'baritone' not found; available: tone, soft, loud" in str(info.value)


def test_audio_that_is_not_a_wav_is_refused_by_the_whisper_server(
    provider: LlamaSwapProvider,
) -> None:
    with pytest.raises(APIError, match="refused the audio: failed to read audio data"):
        provider.transcribe(b"ID3 not really an mp3", model="whisper")


def test_unknown_audio_model_is_not_found(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as info:
        provider.transcribe(b"RIFF", model="wisper")
    assert "whisper" in info.value.available
