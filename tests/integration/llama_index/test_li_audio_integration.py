"""The LlamaIndex audio classes through llama-swap, on the tts and whisper test upstreams.

The speech tool spec runs in a FunctionAgent (LlamaSwap on the scripted tool-calling test
upstream); the audio reader feeds SimpleDirectoryReader and a VectorStoreIndex on the
real MiniLM embeddings. Transcripts are decoded from the tone-code audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import AudioBlock

from llama_index_llamaswap import (
    LlamaSwap,
    LlamaSwapAudioReader,
    LlamaSwapEmbedding,
    LlamaSwapSpeechToolSpec,
)
from llamaswap import shared_provider

RECORDINGS = {
    "lighthouse.wav": "Lighthouse log. The keeper trimmed the wick at dusk and the lamp "
    "burned all night over the rocks.",
    "bakery.wav": "Bakery notes. Sourdough bread needs a warm proofing basket, flour and "
    "a very hot oven.",
    "garage.wav": "Garage memo. The car brake pads squeal and the tyres must be changed "
    "before winter.",
}


@pytest.fixture
def recordings(dsn: str, tmp_path: Path) -> Path:
    provider = shared_provider(dsn)
    for name, text in RECORDINGS.items():
        provider.speech(text, model="tts", format="wav").save(tmp_path / name)
    return tmp_path


@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_agent_speaks_with_the_tool_spec(dsn: str) -> None:
    spec = LlamaSwapSpeechToolSpec("tts", dsn, voice="soft")
    agent = FunctionAgent(
        tools=spec.to_tool_list(), llm=LlamaSwap(model="scripted", dsn=dsn, max_tokens=64)
    )
    result: Any = await agent.run("Good evening, crew. All is well.")
    (call,) = result.tool_calls
    assert call.tool_name == "speak"
    (audio,) = [b for b in call.tool_output.blocks if isinstance(b, AudioBlock)]
    assert audio.format == "wav"
    heard = spec.provider.transcribe(audio.resolve_audio().read(), model="whisper")
    assert heard.text == "Good evening, crew. All is well."
    assert "Tool result: Spoke 32 characters" in str(result)


async def test_transcribe_tool_reads_a_file_from_the_audio_folder(
    dsn: str, recordings: Path
) -> None:
    spec = LlamaSwapSpeechToolSpec("tts", dsn, transcription_model="whisper", audio_dir=recordings)
    _speak, transcribe = spec.to_tool_list()
    output = await transcribe.acall(file_name="garage.wav")
    assert output.content == RECORDINGS["garage.wav"]
    assert transcribe.call(file_name="bakery.wav").content == RECORDINGS["bakery.wav"]


def test_reader_in_simple_directory_reader_feeds_a_vector_index(dsn: str, recordings: Path) -> None:
    reader = LlamaSwapAudioReader("whisper", dsn, language="en")
    docs = SimpleDirectoryReader(
        str(recordings), file_extractor={".wav": reader}, required_exts=[".wav"]
    ).load_data()
    assert sorted(d.text for d in docs) == sorted(RECORDINGS.values())
    assert {d.metadata["language"] for d in docs} == {"english"}
    assert all(len(d.metadata["segments"]) == 2 for d in docs)

    index = VectorStoreIndex.from_documents(
        docs, embed_model=LlamaSwapEmbedding(model="embed", dsn=dsn)
    )
    retriever = index.as_retriever(similarity_top_k=1)
    (best,) = retriever.retrieve("How do I bake bread?")
    assert best.node.metadata["file_name"] == "bakery.wav"
    (best,) = retriever.retrieve("Which car parts need replacing?")
    assert best.node.metadata["file_name"] == "garage.wav"


async def test_reader_segments_async_into_an_index(dsn: str, recordings: Path) -> None:
    reader = LlamaSwapAudioReader("whisper", dsn, mode="segments")
    docs = await reader.aload_data(sorted(recordings.glob("*.wav")))
    assert len(docs) == 6
    index = VectorStoreIndex.from_documents(
        docs, embed_model=LlamaSwapEmbedding(model="embed", dsn=dsn)
    )
    (best,) = await index.as_retriever(similarity_top_k=1).aretrieve("When was the lamp lit?")
    assert best.node.metadata["file_name"] == "lighthouse.wav"
    assert best.node.metadata["start"] > 0
