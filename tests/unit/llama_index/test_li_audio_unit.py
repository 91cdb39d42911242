"""The LlamaIndex speech tool spec and audio reader offline (faked provider calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import AudioBlock, TextBlock
from llama_index.core.schema import MetadataMode

from llama_index_llamaswap import LlamaSwapAudioReader, LlamaSwapSpeechToolSpec, to_audio_block
from llamaswap import SpeechResult, Transcription, TranscriptSegment, shared_provider

DSN = "llama-swap://127.0.0.1:18083"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
TRANSCRIPT = Transcription(
    text="One. Two.",
    segments=(
        TranscriptSegment(id=0, start=0.0, end=0.5, text="One."),
        TranscriptSegment(id=1, start=0.7, end=1.2, text="Two."),
    ),
    language="english",
    duration=1.3,
    model="whisper",
)


class Fake:
    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.result = result

    def __call__(self, first: Any, **kwargs: Any) -> Any:
        self.calls.append((first, kwargs))
        if self.result is not None:
            return self.result
        return SpeechResult(data=WAV, mime_type="audio/wav", model=kwargs["model"], text=first)


def patch(monkeypatch: pytest.MonkeyPatch, name: str, fake: Fake) -> None:
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, name, fake)

    async def twin(first: Any, **kwargs: Any) -> Any:
        return fake(first, **kwargs)

    monkeypatch.setattr(provider, f"a{name}", twin)


def test_speak_returns_a_summary_and_an_audio_block(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Fake()
    patch(monkeypatch, "speech", fake)
    spec = LlamaSwapSpeechToolSpec("tts", DSN, voice="soft", format="wav")
    (tool,) = spec.to_tool_list()
    assert tool.metadata.name == "speak"
    assert set(tool.metadata.get_parameters_dict()["properties"]) == {"text", "voice"}
    summary, audio = spec.speak("Hello there.")
    assert isinstance(summary, TextBlock) and isinstance(audio, AudioBlock)
    assert summary.text == "Spoke 12 characters with 'tts' (audio/wav)."
    assert audio.resolve_audio().read() == WAV and audio.format == "wav"
    assert fake.calls == [("Hello there.", {"model": "tts", "voice": "soft", "format": "wav"})]


async def test_aspeak_and_bad_text(monkeypatch: pytest.MonkeyPatch) -> None:
    patch(monkeypatch, "speech", Fake())
    spec = LlamaSwapSpeechToolSpec("tts", DSN)
    blocks = await spec.aspeak("Hi", voice="loud")
    assert [type(b) for b in blocks] == [TextBlock, AudioBlock]
    with pytest.raises(ValueError, match="speak needs the words to say"):
        spec.speak("  ")


def test_to_audio_block_keeps_bytes_that_look_like_base64() -> None:
    # LlamaIndex takes bytes that happen to be valid base64 for already-encoded data.
    data = b"RIFFxxxxWAVE"
    block = to_audio_block(SpeechResult(data=data, mime_type="audio/wav"))
    assert block.resolve_audio().read() == data


def test_transcribe_tool_only_with_a_model_and_a_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Fake(result=TRANSCRIPT)
    patch(monkeypatch, "transcribe", fake)
    (tmp_path / "memo.wav").write_bytes(WAV)
    spec = LlamaSwapSpeechToolSpec("tts", DSN, transcription_model="whisper", audio_dir=tmp_path)
    assert [t.metadata.name for t in spec.to_tool_list()] == ["speak", "transcribe_audio"]
    assert spec.transcribe_audio("memo.wav") == "One. Two."
    assert fake.calls[0] == ((tmp_path / "memo.wav").resolve(), {"model": "whisper"})
    for name in ("../secret.wav", "missing.wav"):
        with pytest.raises(ValueError, match=r"no audio file .* it holds: memo\.wav"):
            spec.transcribe_audio(name)
    with pytest.raises(ValueError, match="pass both or neither"):
        LlamaSwapSpeechToolSpec("tts", DSN, transcription_model="whisper")
    assert [t.metadata.name for t in LlamaSwapSpeechToolSpec("tts", DSN).to_tool_list()] == [
        "speak"
    ]


def test_reader_whole_mode_keeps_segments_out_of_the_embedded_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Fake(result=TRANSCRIPT)
    patch(monkeypatch, "transcribe", fake)
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)
    reader = LlamaSwapAudioReader("whisper", DSN, language="en")
    (doc,) = reader.load_data(path, extra_info={"topic": "numbers"})
    assert doc.text == "One. Two."
    assert doc.metadata["segments"] == [
        {"id": 0, "start": 0.0, "end": 0.5, "text": "One."},
        {"id": 1, "start": 0.7, "end": 1.2, "text": "Two."},
    ]
    assert (doc.metadata["file_name"], doc.metadata["topic"]) == ("a.wav", "numbers")
    embedded = doc.get_content(metadata_mode=MetadataMode.EMBED)
    assert "segments" not in embedded and "topic: numbers" in embedded
    assert fake.calls[0] == (path, {"model": "whisper", "language": "en", "prompt": None})


async def test_reader_segments_mode_async(monkeypatch: pytest.MonkeyPatch) -> None:
    patch(monkeypatch, "transcribe", Fake(result=TRANSCRIPT))
    reader = LlamaSwapAudioReader("whisper", DSN, mode="segments")
    docs = await reader.aload_data(["x.wav", "y.wav"])
    assert [d.text for d in docs] == ["One.", "Two.", "One.", "Two."]
    assert [d.metadata["start"] for d in docs[:2]] == [0.0, 0.7]
    with pytest.raises(ValueError, match="mode must be"):
        LlamaSwapAudioReader("whisper", DSN, mode="pages")  # type: ignore[arg-type]


def test_reader_imports_from_the_llama_index_namespace() -> None:
    from llama_index.readers.llamaswap import LlamaSwapAudioReader as Reader
    from llama_index.tools.llamaswap import LlamaSwapSpeechToolSpec as Spec

    assert Reader is LlamaSwapAudioReader
    assert Spec is LlamaSwapSpeechToolSpec
