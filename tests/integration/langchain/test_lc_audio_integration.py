"""The LangChain audio classes through llama-swap, on the tts and whisper test upstreams.

The speech tool runs in a real agent (ChatLlamaSwap on the scripted tool-calling test
upstream), and the audio loader feeds a splitter and a vector store on the real MiniLM
embeddings; transcripts are read back from the tone-code audio, never faked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_text_splitters import RecursiveCharacterTextSplitter

from langchain_llamaswap import (
    ChatLlamaSwap,
    LlamaSwapAudioLoader,
    LlamaSwapAudioParser,
    LlamaSwapEmbeddings,
    LlamaSwapSpeechTool,
)
from llamaswap import shared_provider


class TestSpeechToolStandardIntegration(ToolsIntegrationTests):
    _dsn: str = ""

    @pytest.fixture(autouse=True)
    def _use_rig(self, dsn: str) -> None:
        self._dsn = dsn

    @property
    def tool_constructor(self) -> type[LlamaSwapSpeechTool]:
        return LlamaSwapSpeechTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"model": "tts", "dsn": self._dsn}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Hello there.", "voice": "soft"}


def call(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": "call-1", "name": "speak", "args": args}


def test_speech_tool_audio_transcribes_back_to_its_text(dsn: str, tmp_path: Path) -> None:
    tool = LlamaSwapSpeechTool(model="tts", dsn=dsn, output_dir=tmp_path, voices=["tone", "loud"])
    msg = tool.invoke(call({"text": "Fog on the bay. Sound the horn!", "voice": "loud"}))
    assert isinstance(msg, ToolMessage) and isinstance(msg.content, str)
    assert msg.content.startswith("Spoke 31 characters with model 'tts' (audio/wav, ")
    artifact = msg.artifact
    assert Path(artifact["path"]).read_bytes() == artifact["data"]
    transcript = tool.provider.transcribe(artifact["data"], model="whisper")
    assert transcript.text == "Fog on the bay. Sound the horn!"
    assert tool.provider is shared_provider(dsn)


async def test_speech_tool_async_refusal_is_a_tool_exception(dsn: str) -> None:
    tool = LlamaSwapSpeechTool(model="tts", dsn=dsn)
    with pytest.raises(ToolException, match="synthesis failed"):
        await tool.ainvoke(call({"text": "__fail_speech__"}))


def test_agent_speaks_through_llama_swap(dsn: str) -> None:
    """A LangChain agent (ChatLlamaSwap as its model) calls the speech tool end to end.

    The scripted test upstream calls the tool with the user's text (as in the image tool's
    agent test); the spoken audio then transcribes back to that text.
    """
    from langchain.agents import create_agent

    tool = LlamaSwapSpeechTool(model="tts", dsn=dsn)
    agent = create_agent(model=ChatLlamaSwap(dsn=dsn, model="scripted"), tools=[tool])
    result = agent.invoke({"messages": [("human", "Read this aloud. Then stop.")]})
    messages = result["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert calls and calls[0].tool_calls[0]["name"] == "speak"
    (tool_message,) = [m for m in messages if isinstance(m, ToolMessage)]
    audio = tool_message.artifact["data"]
    assert tool.provider.transcribe(audio, model="whisper").text == "Read this aloud. Then stop."
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert str(final.content).startswith("Tool result: Spoke 27 characters")


RECORDINGS = {
    "lighthouse.wav": "Lighthouse log. The keeper trimmed the wick at dusk and the lamp "
    "burned all night over the rocks.",
    "bakery.wav": "Bakery notes. Sourdough bread needs a warm proofing basket, flour and "
    "a very hot oven.",
    "garage.wav": "Garage memo. The car brake pads squeal and the tyres must be changed "
    "before winter.",
}


@pytest.fixture
def recordings(dsn: str, tmp_path: Path) -> list[Path]:
    provider = shared_provider(dsn)
    return [
        provider.speech(text, model="tts", format="wav").save(tmp_path / name)
        for name, text in RECORDINGS.items()
    ]


def test_loader_splitter_vector_store_retrieves_the_right_recording(
    dsn: str, recordings: list[Path]
) -> None:
    docs = LlamaSwapAudioLoader(recordings, model="whisper", dsn=dsn, language="en").load()
    assert [d.page_content for d in docs] == list(RECORDINGS.values())
    assert all(d.metadata["language"] == "english" for d in docs)
    assert [len(d.metadata["segments"]) for d in docs] == [2, 2, 2]

    chunks = RecursiveCharacterTextSplitter(chunk_size=60, chunk_overlap=0).split_documents(docs)
    assert len(chunks) > len(docs)
    store = InMemoryVectorStore(LlamaSwapEmbeddings(model="embed", dsn=dsn))
    store.add_documents(chunks)
    (best,) = store.similarity_search("How do I bake bread?", k=1)
    assert Path(best.metadata["source"]).name == "bakery.wav"
    (best,) = store.similarity_search("Which car parts need replacing?", k=1)
    assert Path(best.metadata["source"]).name == "garage.wav"


async def test_parser_segments_feed_an_async_retriever(dsn: str, recordings: list[Path]) -> None:
    from langchain_core.document_loaders import Blob

    parser = LlamaSwapAudioParser("whisper", dsn=dsn, mode="segments")
    docs = [d for path in recordings for d in await parser.aparse(Blob.from_path(path))]
    assert [d.page_content for d in docs[:2]] == [
        "Lighthouse log.",
        "The keeper trimmed the wick at dusk and the lamp burned all night over the rocks.",
    ]
    assert all(d.metadata["start"] < d.metadata["end"] for d in docs)
    store = InMemoryVectorStore(LlamaSwapEmbeddings(model="embed", dsn=dsn))
    await store.aadd_documents(docs)
    retriever = store.as_retriever(search_kwargs={"k": 1})
    (best,) = await retriever.ainvoke("When was the lamp lit?")
    assert Path(best.metadata["source"]).name == "lighthouse.wav"
    assert best.metadata["start"] > 0  # the second sentence, after the first one's audio
