"""ChatLlamaSwap counts tokens with the model's own tokenizer, through llama-swap only.

tiktoken's encodings are blocked and every outgoing connection except to the rig's
llama-swap fails, so a count that needed a download (or any other host) would fail here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import tiktoken
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import parse_dsn

MESSAGES = [
    SystemMessage("You answer in one word."),
    HumanMessage("What is the capital of France?"),
    AIMessage("Paris"),
    HumanMessage("And of Italy?"),
]


@pytest.fixture
def offline(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Only llama-swap can be reached, and tiktoken cannot load an encoding."""
    allowed = parse_dsn(dsn)
    refused: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and (
            address[0] != allowed.host or address[1] != allowed.port
        ):
            refused.append(address)
            raise OSError(f"test: no network but llama-swap (refused {address})")
        return real_connect(self, address)

    def no_download(*_: Any, **__: Any) -> Any:
        raise AssertionError("tiktoken was asked for an encoding")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_download)
    yield refused


def test_counts_match_what_llama_server_reports(dsn: str, offline: list[Any]) -> None:
    model = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=1, temperature=0)
    counted = model.get_num_tokens_from_messages(MESSAGES)
    answer = model.invoke(MESSAGES)
    assert answer.usage_metadata is not None
    assert counted == answer.usage_metadata["input_tokens"]
    assert model.get_num_tokens("Paris is the capital of France.") == len(
        model.provider.tokenize("Paris is the capital of France.", model="qwen")
    )
    assert offline == []


def test_trim_messages_uses_the_models_tokenizer_offline(dsn: str, offline: list[Any]) -> None:
    model = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=1)
    budget = model.get_num_tokens_from_messages(MESSAGES) - 1
    kept = trim_messages(
        MESSAGES, max_tokens=budget, token_counter=model, strategy="last", start_on="human"
    )
    assert kept and kept == MESSAGES[len(MESSAGES) - len(kept) :]
    assert len(kept) < len(MESSAGES)
    assert model.get_num_tokens_from_messages(kept) <= budget
    assert offline == []


def test_custom_get_token_ids_still_wins(dsn: str, offline: list[Any]) -> None:
    model = ChatLlamaSwap(
        dsn=dsn, model="qwen", custom_get_token_ids=lambda text: list(range(len(text.split())))
    )
    assert model.get_num_tokens("one two three") == 3
