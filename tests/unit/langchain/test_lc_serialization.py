"""``dumpd``/``loads`` keep ChatLlamaSwap's pool and TLS settings, never its secrets (issue 15).

A chain saved with ``dumps`` and loaded elsewhere must reach the same llama-swap the same
way (a private CA, a client certificate, a sized pool); a key, a DSN holding a key, a
certificate's key password or an ``ssl.SSLContext`` must never be written out.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import certifi
import pytest
from langchain_core.load import dumpd, dumps, load

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import PoolSettings

KEY = "sk-serialized-key-987"
PASSWORD = "pem-password-654"
DSN = f"llama-swap+https://{KEY}@serial.invalid:8443"


def round_trip(model: ChatLlamaSwap, monkeypatch: pytest.MonkeyPatch) -> ChatLlamaSwap:
    text = dumps(model)
    monkeypatch.setenv("LLAMASWAP_DSN", DSN)
    restored = load(
        json.loads(text),
        valid_namespaces=["langchain_llamaswap"],
        allowed_objects=[ChatLlamaSwap],
        secrets_from_env=True,
    )
    assert isinstance(restored, ChatLlamaSwap)
    return restored


@pytest.mark.parametrize(
    "settings",
    [
        {"max_connections": 7, "max_keepalive_connections": 3},
        {"verify": certifi.where()},
        {"verify": False},
        {"cert": "/etc/llamaswap/client.pem"},
        {"cert": ("/etc/llamaswap/client.crt", "/etc/llamaswap/client.key")},
        {"verify": certifi.where(), "cert": "/c.pem", "max_connections": 2},
    ],
    ids=["pool", "ca-path", "no-verify", "cert-path", "cert-pair", "all"],
)
def test_round_trip_keeps_pool_and_tls_settings(
    settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ChatLlamaSwap(model="qwen", dsn=DSN, **settings)
    restored = round_trip(model, monkeypatch)
    assert restored.provider.pool_settings == model.provider.pool_settings
    expected = PoolSettings(**{**PoolSettings().__dict__, **settings})
    assert restored.provider.pool_settings == expected
    assert restored.provider is model.provider  # same address, key and settings: one pool


def test_defaults_add_nothing_to_the_serialized_form() -> None:
    kwargs = dumpd(ChatLlamaSwap(model="qwen", dsn=DSN))["kwargs"]
    assert not {"verify", "cert", "max_connections", "max_keepalive_connections"} & set(kwargs)


def test_no_key_password_or_ssl_context_is_serialized(monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context()
    model = ChatLlamaSwap(
        model="qwen",
        dsn=DSN,
        api_key=KEY,
        verify=context,
        cert=("/c.crt", "/c.key", PASSWORD),
        max_connections=5,
    )
    text = dumps(model)
    for secret in (KEY, PASSWORD, "SSLContext", "ssl."):
        assert secret not in text
    kwargs = json.loads(text)["kwargs"]
    assert "verify" not in kwargs and "cert" not in kwargs
    assert kwargs["dsn"] == {"lc": 1, "type": "secret", "id": ["LLAMASWAP_DSN"]}
    assert PASSWORD not in repr(model)
    restored = round_trip(model, monkeypatch)
    assert restored.provider.pool_settings == PoolSettings(max_connections=5)
