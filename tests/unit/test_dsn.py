"""The DSN grammar: every accepted form, every malformed one, and no key leaks."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamaswap import DSNError, LlamaSwapProvider, parse_dsn


@pytest.mark.parametrize(
    ("dsn", "base_url", "key"),
    [
        ("llama-swap://127.0.0.1:8080", "http://127.0.0.1:8080", None),
        ("llama-swap://localhost", "http://localhost:8080", None),
        ("llama-swap://sk-key@127.0.0.1:9000", "http://127.0.0.1:9000", "sk-key"),
        ("llama-swap://user:sk-pass@host:1", "http://host:1", "sk-pass"),
        ("llama-swap://:only-pass@host", "http://host:8080", "only-pass"),
        ("llama-swap://sk%40odd%3Akey@host", "http://host:8080", "sk@odd:key"),
        ("llama-swap://k@[::1]:8081", "http://[::1]:8081", "k"),
        ("llama-swap://[::1]", "http://[::1]:8080", None),
        ("llama-swap://host:8080/prefix/", "http://host:8080/prefix", None),
        ("llama-swap+https://k@swap.example.org", "https://swap.example.org:443", "k"),
        ("llama-swap+https://swap.example.org:8443/ls", "https://swap.example.org:8443/ls", None),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", None),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080", None),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080", None),
        ("https://u:k@host/sub/v1", "https://host:443/sub", "k"),
        ("HTTP://Host.Example:80", "http://host.example:80", None),
        ("LLAMA-SWAP://h", "http://h:8080", None),
        ("localhost:8080", "http://localhost:8080", None),
        ("  llama-swap://h:1  ", "http://h:1", None),
        ("llama-swap:8080", "http://llama-swap:8080", None),  # a host named llama-swap
        ("http://h:1/api/llama", "http://h:1/api/llama", None),  # a reverse-proxy prefix
        ("http://h:1/upstream/qwen", "http://h:1/upstream/qwen", None),  # one model's server
    ],
)
def test_accepted_forms(dsn: str, base_url: str, key: str | None) -> None:
    parsed = parse_dsn(dsn)
    assert parsed.base_url == base_url
    assert parsed.api_key == key
    assert parsed.openai_base_url == f"{base_url}/v1"


@pytest.mark.parametrize(
    ("dsn", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://host", "unknown DSN scheme 'ftp'"),
        ("ollama://host", "unknown DSN scheme"),
        ("llama-swap://", "no host"),
        ("llama-swap://key@", "no host"),
        ("llama-swap://host:", "no port after it"),
        ("llama-swap://host:0", "out of range"),
        ("llama-swap://host:65536", "out of range"),
        ("llama-swap://host:99999", "out of range"),
        ("llama-swap://host:eighty", "port"),
        ("llama-swap://@host", "empty token"),
        ("llama-swap://user:@host", "empty password"),
        ("llama-swap://[::zz]:80", "IPv6"),
        ("llama-swap://::1:8080", "IPv6"),
        ("llama-swap://host?timeout=3", "query string"),
        ("llama-swap://host#frag", "query string"),
        ("llama-swap://ho st", "whitespace"),
        ("llama-swap://ho$t", "cannot have"),
        ("llama-swap://k%20ey@host", "whitespace"),
        ("llama-swap://sk/abc@host", "%2F"),
    ],
)
def test_malformed_dsns_say_what_is_wrong(dsn: str, says: str) -> None:
    with pytest.raises(DSNError) as info:
        parse_dsn(dsn)
    assert says in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("dsn", "says", "fixed"),
    [
        ("llama-swap//host:8080", "followed by '//' instead of '://'", "llama-swap://host:8080"),
        ("llama-swap:/host:8080", "followed by ':/' instead of '://'", "llama-swap://host:8080"),
        ("llama-swap:host:8080", "followed by ':' instead of '://'", "llama-swap://host:8080"),
        ("http//sk-SECRET@host:1", "followed by '//'", "http://***@host:1"),
        (
            "http://host:8080/v1/chat/completions",
            "endpoint '/v1/chat/completions'",
            "http://host:8080",
        ),
        (
            "https://u:sk-SECRET@host/sub/v1/embeddings",
            "endpoint '/v1/embeddings'",
            "https://***@host/sub",
        ),
        ("llama-swap://host:8080/v1/models", "endpoint '/v1/models'", "llama-swap://host:8080"),
        ("http://h:9/upstream/qwen/health", "endpoint '/health'", "http://h:9/upstream/qwen"),
        ("http://h:9/completion", "endpoint '/completion'", "http://h:9"),
        ("http://h:9/ui/", "endpoint '/ui'", "http://h:9"),
    ],
)
def test_dsn_typos_name_the_mistake_and_the_fix(dsn: str, says: str, fixed: str) -> None:
    with pytest.raises(DSNError) as info:
        parse_dsn(dsn)
    assert says in str(info.value)
    assert repr(fixed) in str(info.value)
    assert "SECRET" not in str(info.value)


def test_unknown_scheme_error_never_echoes_a_key() -> None:
    with pytest.raises(DSNError, match="unknown DSN scheme;") as info:
        parse_dsn("sk-SECRET@://host:8080")  # '://' typed after the key
    assert "SECRET" not in str(info.value)


def test_error_shows_a_valid_example() -> None:
    with pytest.raises(DSNError, match=r"llama-swap://sk-key@127\.0\.0\.1:8080"):
        parse_dsn("gopher://x")


def test_non_string_is_a_dsn_error() -> None:
    with pytest.raises(DSNError, match="must be a string"):
        parse_dsn(8080)  # type: ignore[arg-type]


def test_key_hidden_from_repr_and_str() -> None:
    parsed = parse_dsn("llama-swap://sk-secret-123@127.0.0.1:8080")
    for text in (repr(parsed), str(parsed), parsed.redacted(), parsed.base_url):
        assert "sk-secret-123" not in text
    assert "***" in repr(parsed)


def test_provider_reads_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMASWAP_DSN", raising=False)
    assert LlamaSwapProvider().base_url == "http://localhost:8080"
    monkeypatch.setenv("LLAMASWAP_DSN", "llama-swap://envkey@10.1.2.3:9999")
    provider = LlamaSwapProvider()
    assert provider.base_url == "http://10.1.2.3:9999"
    assert provider.api_key == "envkey"
    assert "envkey" not in repr(provider)


def test_explicit_api_key_overrides_dsn_key() -> None:
    provider = LlamaSwapProvider("llama-swap://dsnkey@h:1", api_key="argkey")
    assert provider.api_key == "argkey"
    assert provider.auth_headers["Authorization"] == "Bearer argkey"


def test_dsn_and_base_url_together_is_an_error() -> None:
    with pytest.raises(DSNError, match="either dsn or base_url"):
        LlamaSwapProvider("llama-swap://h", base_url="http://h:1")


def test_base_url_keyword_takes_a_plain_url() -> None:
    provider = LlamaSwapProvider(base_url="http://127.0.0.1:7000/v1", api_key="k")
    assert provider.base_url == "http://127.0.0.1:7000"
    assert provider.openai_base_url == "http://127.0.0.1:7000/v1"


# No raw '/': a key holding one is not valid DSN syntax (it must be %2F), and with it a key
# can be read as a scheme ("key://...") or a path, which other tests cover.
_KEY_ALPHABET = string.ascii_letters + string.digits + "-_.~!$&'()*+,;=%@:?#[] \t"


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(
        [
            "llama-swap://",
            "llama-swap+https://",
            "http://",
            "https://",
            "",
            "llama-swap//",
            "http:/",
        ]
    ),
    key=st.text(alphabet=_KEY_ALPHABET, min_size=1, max_size=20).map(lambda k: f"SECRET{k}"),
    host=st.text(min_size=0, max_size=20),
    port=st.one_of(st.none(), st.integers(min_value=-5, max_value=70000), st.text(max_size=5)),
    path=st.text(max_size=10) | st.sampled_from(["/v1/chat/completions", "/p/v1/models"]),
)
def test_parse_dsn_returns_or_raises_dsnerror_and_never_leaks(
    scheme: str, key: str, host: str, port: object, path: str
) -> None:
    port_part = "" if port is None else f":{port}"
    dsn = f"{scheme}{key}@{host}{port_part}{path}"
    try:
        parsed = parse_dsn(dsn)
    except DSNError as exc:
        message = str(exc)
        assert "SECRET" not in message
        return
    assert parsed.base_url.startswith(("http://", "https://"))
    assert 1 <= parsed.port <= 65535
    # Hosts are lower-cased, so an upper-case marker can only come from the key.
    for shown in (repr(parsed), str(parsed), parsed.base_url, parsed.redacted()):
        assert "SECRET" not in shown


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_but_dsnerror(text: str) -> None:
    with contextlib.suppress(DSNError):
        parse_dsn(text)


def test_shared_provider_is_one_per_address_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamaswap import shared_provider

    a = shared_provider("llama-swap://k1@127.0.0.1:7001")
    assert shared_provider("http://127.0.0.1:7001", api_key="k1") is a
    assert shared_provider("llama-swap://k2@127.0.0.1:7001") is not a
    assert shared_provider("llama-swap://127.0.0.1:7001") is not a
    monkeypatch.setenv("LLAMASWAP_DSN", "llama-swap://k1@127.0.0.1:7001")
    assert shared_provider() is a
