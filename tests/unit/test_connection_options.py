"""Every class takes the pool and TLS settings and hands them to its provider (issue 15).

A self-signed llama-swap needs ``verify=`` on whatever class the user builds, and a
service needs ``max_connections=`` there too; each class's ``.provider`` must carry them.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import LlamaSwapProvider, PoolSettings

DSN = "llama-swap+https://tls-options.invalid:8443"

BUILDERS: dict[str, Callable[..., Any]] = {
    "ChatLlamaSwap": lambda **kw: ChatLlamaSwap(model="qwen", dsn=DSN, **kw),
    "LlamaSwapEmbeddings": lambda **kw: LlamaSwapEmbeddings(model="embed", dsn=DSN, **kw),
    "LlamaSwapImageTool": lambda **kw: LlamaSwapImageTool(model="sd", dsn=DSN, **kw),
    "LlamaSwap": lambda **kw: LlamaSwap(model="qwen", dsn=DSN, context_window=2048, **kw),
    "LlamaSwapEmbedding": lambda **kw: LlamaSwapEmbedding(model="embed", dsn=DSN, **kw),
    "LlamaSwapImageToolSpec": lambda **kw: LlamaSwapImageToolSpec(model="sd", dsn=DSN, **kw),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_class_hands_pool_and_tls_settings_to_its_provider(name: str) -> None:
    context = ssl.create_default_context()
    built = BUILDERS[name](verify=context, max_connections=7, max_keepalive_connections=3)
    provider: LlamaSwapProvider = built.provider
    assert provider.pool_settings == PoolSettings(
        max_connections=7, max_keepalive_connections=3, verify=context
    )


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_classes_with_other_tls_settings_do_not_share_a_pool(name: str) -> None:
    plain = BUILDERS[name]().provider
    unverified = BUILDERS[name](verify=False).provider
    assert plain is not unverified
    assert unverified.pool_settings.verify is False
    assert BUILDERS[name]().provider is plain
