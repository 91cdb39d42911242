"""The audio calls and classes never show the key, on a rig whose llama-swap requires one."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.load import dumps
from langchain_core.tools import ToolException

from langchain_llamaswap import LlamaSwapAudioLoader, LlamaSwapSpeechTool
from llama_index_llamaswap import LlamaSwapAudioReader, LlamaSwapSpeechToolSpec
from llamaswap import APIError, AuthenticationError, LlamaSwapProvider, NotFoundError
from llamaswap_rig.pytest_plugin import _start, _stop
from llamaswap_rig.runner import Rig

KEY = "sk-AUDIO-SECRET-4b1e-never-show"
WRONG = "sk-AUDIO-WRONG-77aa"


@pytest.fixture(scope="module")
def keyed() -> Iterator[Rig]:
    rig = _start("audio-security", api_keys=[KEY], models=("tts", "whisper"), verbose=False)
    yield rig
    _stop("audio-security")


def shown(value: Any) -> list[str]:
    return [repr(value), str(value)]


def failure(fn: Callable[[], Any], kind: type[BaseException]) -> list[str]:
    with pytest.raises(kind) as info:
        fn()
    exc = info.value
    texts = [*shown(exc), "".join(traceback.format_exception(exc))]
    texts += [str(getattr(exc, name, "")) for name in ("body", "url", "message")]
    return texts


def test_audio_results_errors_and_classes_never_show_the_key(keyed: Rig, tmp_path: Path) -> None:
    dsn = keyed.dsn
    assert KEY in dsn
    seen: list[str] = []
    provider = LlamaSwapProvider(dsn)

    speech = provider.speech("Keys stay secret.", model="tts", format="wav")
    transcript = provider.transcribe(speech, model="whisper")
    assert transcript.text == "Keys stay secret."
    seen += shown(speech) + shown(transcript) + shown(provider.voices("tts"))
    seen += failure(lambda: provider.speech("x", model="tts", voice="nope"), APIError)
    seen += failure(lambda: provider.speech("__fail_speech__", model="tts"), APIError)
    seen += failure(lambda: provider.transcribe(b"not audio", model="whisper"), APIError)
    seen += failure(lambda: provider.transcribe(speech, model="nope"), NotFoundError)

    wrong = LlamaSwapProvider(dsn.replace(KEY, WRONG))
    seen += failure(lambda: wrong.transcribe(speech, model="whisper"), AuthenticationError)
    seen += failure(lambda: wrong.speech("x", model="tts"), AuthenticationError)
    seen += failure(lambda: wrong.voices("tts"), AuthenticationError)

    tool = LlamaSwapSpeechTool(model="tts", dsn=dsn)
    seen += [*shown(tool), dumps(tool), str(tool.model_dump())]
    call = {"type": "tool_call", "id": "1", "name": "speak", "args": {"text": "x"}}
    wrong_tool = LlamaSwapSpeechTool(model="tts", dsn=dsn.replace(KEY, WRONG))
    seen += failure(lambda: wrong_tool.invoke(call), ToolException)
    path = speech.save(tmp_path / "s.wav")
    loader = LlamaSwapAudioLoader([path], model="whisper", dsn=dsn)
    seen += [*shown(loader.load()), *shown(loader.parser)]

    spec = LlamaSwapSpeechToolSpec("tts", dsn)
    reader = LlamaSwapAudioReader("whisper", dsn)
    seen += [*shown(spec), *shown(spec.speak("x")), *shown(reader)]
    seen += [doc.to_json() for doc in reader.load_data(path)]

    leaks = [text[:200] for text in seen if KEY in text or WRONG in text]
    assert leaks == []
