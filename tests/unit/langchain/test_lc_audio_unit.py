"""The LangChain speech tool, audio parser and audio loader offline (faked provider calls)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from langchain_core.document_loaders import Blob
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_llamaswap import (
    LlamaSwapAudioLoader,
    LlamaSwapAudioParser,
    LlamaSwapSpeechTool,
    audio_content_block,
)
from llamaswap import APIError, SpeechResult, Transcription, TranscriptSegment, shared_provider

DSN = "llama-swap://127.0.0.1:18082"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24


class TestSpeechToolStandardUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[LlamaSwapSpeechTool]:
        return LlamaSwapSpeechTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"model": "tts", "dsn": DSN}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Hello there.", "voice": "soft"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ({"LLAMASWAP_DSN": DSN}, {"model": "tts"}, {"dsn": DSN})


class Fake:
    def __init__(self, result: Any = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.result = result
        self.fail = fail

    def __call__(self, first: Any, **kwargs: Any) -> Any:
        self.calls.append((first, kwargs))
        if self.fail is not None:
            raise self.fail
        if self.result is not None:
            return self.result
        return SpeechResult(data=WAV, mime_type="audio/wav", model=kwargs["model"], text=first)


def patch(monkeypatch: pytest.MonkeyPatch, name: str, fake: Fake) -> None:
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, name, fake)

    async def twin(first: Any, **kwargs: Any) -> Any:
        return fake(first, **kwargs)

    monkeypatch.setattr(provider, f"a{name}", twin)


def call(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": "call-1", "name": "speak", "args": args}


def test_speech_tool_call_gives_short_text_and_audio_artifact(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Fake()
    patch(monkeypatch, "speech", fake)
    tool = LlamaSwapSpeechTool(model="tts", dsn=DSN, output_dir=tmp_path, format="WAV")
    msg = tool.invoke(call({"text": "Hello there."}))
    assert isinstance(msg, ToolMessage) and isinstance(msg.content, str)
    assert msg.content.startswith("Spoke 12 characters with model 'tts' (audio/wav")
    artifact = msg.artifact
    assert artifact["data"] == WAV and artifact["mime_type"] == "audio/wav"
    assert artifact["text"] == "Hello there."
    path = Path(artifact["path"])
    assert path.parent == tmp_path and path.suffix == ".wav" and path.read_bytes() == WAV
    assert str(path) in msg.content
    sent = {"model": "tts", "voice": None, "format": "wav", "extra": None}
    assert fake.calls == [("Hello there.", sent)]


async def test_speech_tool_async_uses_the_default_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Fake()
    patch(monkeypatch, "speech", fake)
    tool = LlamaSwapSpeechTool(model="tts", dsn=DSN, voice="soft", timeout=5)
    msg = await tool.ainvoke(call({"text": "Hi"}))
    assert msg.artifact["path"] is None
    assert fake.calls[0][1]["voice"] == "soft"
    assert fake.calls[0][1]["timeout"] == 5


def test_audio_content_block_from_speech_or_artifact(monkeypatch: pytest.MonkeyPatch) -> None:
    patch(monkeypatch, "speech", Fake())
    msg = LlamaSwapSpeechTool(model="tts", dsn=DSN).invoke(call({"text": "Hi"}))
    assert isinstance(msg.content, str) and "base64" not in msg.content
    for source in (msg.artifact, SpeechResult(data=WAV, mime_type="audio/wav")):
        block = audio_content_block(source)
        assert (block["type"], block["mime_type"]) == ("audio", "audio/wav")
        assert base64.b64decode(block["base64"]) == WAV
    with pytest.raises(TypeError, match="'data' bytes"):
        audio_content_block({"mime_type": "audio/wav"})


def test_speech_tool_voices_are_an_enum_and_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Fake()
    patch(monkeypatch, "speech", fake)
    tool = LlamaSwapSpeechTool(model="tts", dsn=DSN, voices=["tone", "soft"])
    schema = tool.tool_call_schema.model_json_schema()
    assert "tone" in str(schema["properties"]["voice"]) and "soft" in str(schema)
    msg = tool.invoke(call({"text": "Hi", "voice": "baritone"}))
    assert msg.status == "error"
    assert "speak was called with invalid arguments: voice" in msg.content
    assert fake.calls == []
    with pytest.raises(ValueError, match="voice 'loud' is not one of voices"):
        LlamaSwapSpeechTool(model="tts", dsn=DSN, voices=["tone"], voice="loud")


def test_speech_tool_empty_text_is_text_the_model_can_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    patch(monkeypatch, "speech", Fake())
    msg = LlamaSwapSpeechTool(model="tts", dsn=DSN).invoke(call({"text": "  "}))
    assert msg.status == "error"
    assert "text: text must hold the words to speak" in msg.content


def test_speech_tool_unknown_format_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown audio format 'ogg'"):
        LlamaSwapSpeechTool(model="tts", dsn=DSN, format="ogg")


def test_speech_tool_server_refusal_is_a_tool_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    patch(monkeypatch, "speech", Fake(fail=APIError("voice not found", status_code=400)))
    with pytest.raises(ToolException, match="speech with model 'tts' failed: voice not found"):
        LlamaSwapSpeechTool(model="tts", dsn=DSN).invoke(call({"text": "Hi"}))


def test_speech_tool_never_serializes_the_key() -> None:
    tool = LlamaSwapSpeechTool(model="tts", dsn="llama-swap://sk-speak-99@127.0.0.1:18082")
    assert "sk-speak-99" not in repr(tool)
    assert "sk-speak-99" not in str(tool.model_dump())


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


def test_parser_gives_one_document_with_segments_in_metadata(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Fake(result=TRANSCRIPT)
    patch(monkeypatch, "transcribe", fake)
    path = tmp_path / "a.wav"
    path.write_bytes(WAV)
    parser = LlamaSwapAudioParser("whisper", dsn=DSN, language="en", prompt="numbers")
    (doc,) = parser.parse(Blob.from_path(path))
    assert doc.page_content == "One. Two."
    assert doc.metadata == {
        "source": str(path),
        "model": "whisper",
        "language": "english",
        "duration": 1.3,
        "segments": [
            {"id": 0, "start": 0.0, "end": 0.5, "text": "One."},
            {"id": 1, "start": 0.7, "end": 1.2, "text": "Two."},
        ],
    }
    # a blob that points at a file sends the path (its name travels); in-memory sends bytes
    assert fake.calls[0] == (path, {"model": "whisper", "language": "en", "prompt": "numbers"})
    parser.parse(Blob.from_data(WAV))
    assert fake.calls[1][0] == WAV


async def test_parser_segments_mode_gives_a_document_per_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patch(monkeypatch, "transcribe", Fake(result=TRANSCRIPT))
    parser = LlamaSwapAudioParser("whisper", dsn=DSN, mode="segments")
    docs = await parser.aparse(Blob.from_data(WAV, path="memo.wav"))
    assert [d.page_content for d in docs] == ["One.", "Two."]
    assert [(d.metadata["start"], d.metadata["end"]) for d in docs] == [(0.0, 0.5), (0.7, 1.2)]
    assert {d.metadata["source"] for d in docs} == {"memo.wav"}


def test_parser_refuses_a_bad_mode_or_model() -> None:
    with pytest.raises(ValueError, match="mode must be 'whole' or 'segments'"):
        LlamaSwapAudioParser("whisper", dsn=DSN, mode="pages")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whisper model"):
        LlamaSwapAudioParser("", dsn=DSN)


async def test_loader_transcribes_each_file_sync_and_async(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Fake(result=TRANSCRIPT)
    patch(monkeypatch, "transcribe", fake)
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for p in paths:
        p.write_bytes(WAV)
    loader = LlamaSwapAudioLoader(paths, model="whisper", dsn=DSN)
    assert [d.metadata["source"] for d in loader.load()] == [str(p) for p in paths]
    assert [d.metadata["source"] for d in await loader.aload()] == [str(p) for p in paths]
    assert [c[0] for c in fake.calls] == paths * 2
    assert loader.provider is shared_provider(DSN)
    with pytest.raises(ValueError, match="at least one audio file"):
        LlamaSwapAudioLoader([], model="whisper", dsn=DSN)
