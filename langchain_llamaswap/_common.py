"""Shared plumbing: from DSN and key to the shared provider and OpenAI SDK clients.

Every class here talks to llama-swap through one :func:`llamaswap.shared_provider`, so a
chat model, its embeddings and the image tool share one connection pool and one
``.provider`` for management. The OpenAI SDK clients reuse that provider's httpx clients,
never retry on their own (``max_retries`` is llamaswap's safe retry layer instead), and
raise llama-swap's typed errors, which are also the SDK's and LangChain's error classes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from langchain_core.utils import secret_from_env
from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from langchain_llamaswap.errors import llamaswap_error as llamaswap_error
from llamaswap import (
    ENV_DSN,
    LlamaSwapProvider,
    parse_dsn,
    shared_provider,
)
from llamaswap import PLACEHOLDER_API_KEY as PLACEHOLDER_API_KEY  # tests import it here
from llamaswap import openai_compat as compat
from llamaswap.pool import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_KEEPALIVE_CONNECTIONS


def as_secret(value: SecretStr | str | None) -> SecretStr | None:
    """Wrap a plain string in ``SecretStr`` so it never shows in a repr."""
    if isinstance(value, str):
        return SecretStr(value) if value else None
    return value


def secret_text(value: SecretStr | str | None) -> str | None:
    """The plain text of an optional secret."""
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def resolve_provider(
    dsn: SecretStr | str | None,
    base_url: str | None,
    api_key: SecretStr | str | None,
    **connection: Any,
) -> LlamaSwapProvider:
    """The shared provider for this address and key (core applies the README's rule).

    ``connection`` holds the pool and TLS settings (see :func:`connection_options`).
    """
    return shared_provider(
        secret_text(dsn), base_url=base_url, api_key=secret_text(api_key), **connection
    )


def connection_options(model: Any) -> dict[str, Any]:
    """A class's pool and TLS fields, as the provider takes them."""
    return {
        "verify": model.verify,
        "cert": model.cert,
        "max_connections": model.max_connections,
        "max_keepalive_connections": model.max_keepalive_connections,
    }


def explicit_address(data: Any) -> Any:
    """Apply the README's address and key rule to a class's raw init arguments.

    The ``dsn`` and ``api_key`` fields default to ``$LLAMASWAP_DSN`` and
    ``$LLAMASWAP_API_KEY``; those defaults must not outrank what was passed. An explicit
    ``base_url`` replaces ``$LLAMASWAP_DSN`` (both passed is an error), and a key inside the
    address outranks ``$LLAMASWAP_API_KEY``.
    """
    if not isinstance(data, dict):
        return data
    given = {name for name, value in data.items() if value is not None}
    base_given = given & {"base_url", "openai_api_base"}
    dsn_given = "dsn" in given
    if base_given and dsn_given:
        raise ValueError("pass either dsn or base_url, not both")
    data = dict(data)
    if base_given:
        data["dsn"] = None
    if not given & {"api_key", "openai_api_key"}:
        address = data.get("dsn") if dsn_given else os.environ.get(ENV_DSN)
        if address is not None and not base_given and _holds_key(secret_text(address)):
            data["api_key"] = None
    return data


def _holds_key(address: str | None) -> bool:
    try:
        return bool(address and parse_dsn(address).api_key)
    except ValueError:
        return False  # the provider reports a malformed address with its own message


def openai_client_kwargs(
    provider: LlamaSwapProvider,
    *,
    timeout: Any,
    default_headers: Mapping[str, str] | None,
    default_query: Mapping[str, object] | None,
) -> dict[str, Any]:
    """Keyword arguments for ``openai.OpenAI``/``AsyncOpenAI``: core's, for this provider.

    ``max_retries`` on the classes is applied by
    :meth:`~llamaswap.LlamaSwapProvider.sdk_http_client` and its async twin.
    """
    return compat.client_kwargs(
        base_url=provider.openai_base_url,
        api_key=provider.api_key,
        timeout=timeout,
        default_headers=default_headers,
        default_query=default_query,
    )


class LlamaSwapConnection(BaseModel):
    """The address, pool and TLS fields every LangChain class shares, and its ``.provider``.

    A class names its key and plain-address fields in ``_key_field`` / ``_base_field``
    (``ChatLlamaSwap`` keeps ``ChatOpenAI``'s ``openai_api_key`` / ``openai_api_base``).
    """

    _key_field: ClassVar[str] = "api_key"
    _base_field: ClassVar[str] = "base_url"

    dsn: SecretStr | str | None = Field(default_factory=secret_from_env(ENV_DSN, default=None))
    """``llama-swap://[key@]host[:port]``; a secret because it may hold the key."""

    verify: Any = Field(default=True, exclude=True)
    """TLS verification: ``True``, ``False``, a CA bundle path (a self-signed llama-swap)
    or an ``ssl.SSLContext``, as httpx takes it."""

    cert: Any = Field(default=None, exclude=True, repr=False)
    """A client certificate for mutual TLS: a PEM path, or ``(cert, key[, password])``."""

    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, exclude=True)
    """The size of the shared pool (default 1,000, as the OpenAI SDK)."""

    max_keepalive_connections: int = Field(default=DEFAULT_MAX_KEEPALIVE_CONNECTIONS, exclude=True)
    """Idle connections the pool keeps open (default 100)."""

    _provider: LlamaSwapProvider | None = PrivateAttr(default=None)

    @property
    def provider(self) -> LlamaSwapProvider:
        """The shared :class:`llamaswap.LlamaSwapProvider` for this address (list, load...)."""
        if self._provider is None:
            self._provider = resolve_provider(
                self.dsn,
                getattr(self, self._base_field),
                getattr(self, self._key_field),
                **connection_options(self),
            )
        return self._provider

    @model_validator(mode="before")
    @classmethod
    def _address_rule(cls, data: Any) -> Any:
        return explicit_address(data)

    @field_validator("dsn", "api_key", "openai_api_key", mode="after", check_fields=False)
    @classmethod
    def _keep_secret(cls, value: SecretStr | str | None) -> SecretStr | None:
        return as_secret(value)

    @field_validator("cert", mode="before")
    @classmethod
    def _cert_pair(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value  # JSON turns tuples into lists


def serializable_connection(model: LlamaSwapConnection) -> dict[str, Any]:
    """The pool and TLS settings ``dumpd`` may keep: those that differ from the defaults.

    An ``ssl.SSLContext`` cannot be written down, and a certificate tuple's third item is
    its key's password: both are left out (pass a CA path and an unencrypted key file to
    keep TLS settings across ``dumpd``/``loads``).
    """
    kept: dict[str, Any] = {}
    if model.max_connections != DEFAULT_MAX_CONNECTIONS:
        kept["max_connections"] = model.max_connections
    if model.max_keepalive_connections != DEFAULT_MAX_KEEPALIVE_CONNECTIONS:
        kept["max_keepalive_connections"] = model.max_keepalive_connections
    if isinstance(model.verify, str) or model.verify is False:
        kept["verify"] = model.verify
    cert = model.cert
    if isinstance(cert, str) or (isinstance(cert, tuple) and len(cert) == 2):
        kept["cert"] = list(cert) if isinstance(cert, tuple) else cert
    return kept
