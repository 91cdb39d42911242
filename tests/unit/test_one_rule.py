"""The rules every entry point shares (issue 11): address, key, timeouts, typed errors, packaging.

Each test here failed before the fix it names: the address and key rule was written three
ways, the LangChain image tool dropped the connect bound, a corrupt gzip body escaped untyped.
"""

from __future__ import annotations

import ast
import gzip
import importlib.metadata
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import llamaswap
from llamaswap import DSNError, LlamaSwapProvider, ResponseDecodeError, shared_provider
from llamaswap import openai_compat as compat

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-one-rule-key"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMASWAP_DSN", raising=False)
    monkeypatch.delenv("LLAMASWAP_API_KEY", raising=False)


# -- the address and key rule, the same at every entry point ---------------------------------


def _entry_points() -> list[Any]:
    from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
    from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding

    return [
        lambda **kw: LlamaSwapProvider(**kw),
        lambda **kw: ChatLlamaSwap(model="qwen", **kw).provider,
        lambda **kw: LlamaSwapEmbeddings(model="embed", **kw).provider,
        lambda **kw: LlamaSwapImageTool(model="sd", **kw).provider,
        lambda **kw: LlamaSwap(model="qwen", context_window=512, **kw).provider,
        lambda **kw: LlamaSwapEmbedding(model_name="embed", **kw).provider,
    ]


ENTRY_IDS = ["core", "lc-chat", "lc-embed", "lc-image", "li-llm", "li-embed"]


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_env_key_is_used_when_nothing_else_gives_one(
    make: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMASWAP_API_KEY", KEY)
    provider = _entry_points()[make](dsn="llama-swap://127.0.0.1:18081")
    assert provider.api_key == KEY


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_key_in_the_dsn_outranks_the_env_key(make: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASWAP_API_KEY", "env-key")
    provider = _entry_points()[make](dsn=f"llama-swap://{KEY}@127.0.0.1:18082")
    assert provider.api_key == KEY


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_key_in_the_env_dsn_outranks_the_env_key(
    make: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMASWAP_DSN", f"llama-swap://{KEY}@127.0.0.1:18083")
    monkeypatch.setenv("LLAMASWAP_API_KEY", "env-key")
    assert _entry_points()[make]().api_key == KEY


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_api_key_argument_outranks_the_dsn_key(make: int) -> None:
    provider = _entry_points()[make](dsn="llama-swap://dsnkey@127.0.0.1:18084", api_key=KEY)
    assert provider.api_key == KEY


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_base_url_is_accepted_and_outranks_the_env_dsn(
    make: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMASWAP_DSN", "llama-swap://127.0.0.1:1")
    provider = _entry_points()[make](base_url="http://127.0.0.1:18085/v1")
    assert provider.base_url == "http://127.0.0.1:18085"


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_dsn_and_base_url_together_are_refused(make: int) -> None:
    with pytest.raises(ValueError, match="either dsn or base_url"):
        _entry_points()[make](dsn="llama-swap://127.0.0.1:1", base_url="http://127.0.0.1:2")


@pytest.mark.parametrize("make", range(6), ids=ENTRY_IDS)
def test_base_url_holding_a_key_is_refused_without_echoing_it(make: int) -> None:
    with pytest.raises(ValueError, match="must not contain a key") as info:
        _entry_points()[make](base_url=f"http://u:{KEY}@127.0.0.1:18086")
    assert KEY not in str(info.value)


def test_core_refuses_a_key_in_base_url_as_a_dsn_error() -> None:
    with pytest.raises(DSNError):
        LlamaSwapProvider(base_url=f"llama-swap://{KEY}@127.0.0.1:1")


# -- the LangChain classes build their provider once ------------------------------------------


@pytest.mark.parametrize("kind", ["chat", "embeddings", "image"])
def test_reading_provider_builds_no_new_provider(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool

    dsn = "llama-swap://127.0.0.1:18087"
    obj: Any
    if kind == "chat":
        obj = ChatLlamaSwap(model="qwen", dsn=dsn)
    elif kind == "embeddings":
        obj = LlamaSwapEmbeddings(model="embed", dsn=dsn)
    else:
        obj = LlamaSwapImageTool(model="sd", dsn=dsn)
    first = obj.provider
    built: list[object] = []
    original = LlamaSwapProvider.__init__

    def counting(self: LlamaSwapProvider, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(LlamaSwapProvider, "__init__", counting)
    assert obj.provider is first and obj.provider is first
    assert built == []


# -- the LangChain image tool keeps the connect bound -----------------------------------------


def test_image_tool_without_timeout_keeps_the_providers_connect_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_llamaswap import LlamaSwapImageTool

    dsn = "llama-swap://127.0.0.1:18088"
    provider = shared_provider(dsn)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"b64_json": "iVBORw0KGgo="}]})

    client = httpx.Client(
        transport=httpx.MockTransport(handler), timeout=provider.http_client.timeout
    )
    monkeypatch.setattr(type(provider), "http_client", property(lambda self: client))
    LlamaSwapImageTool(model="sd", dsn=dsn).invoke({"prompt": "a red square"})
    timeout = seen[0].extensions["timeout"]
    assert timeout["connect"] == 10.0
    assert timeout["read"] is None


# -- a corrupt compressed body is a typed error ----------------------------------------------


def _corrupt_gzip(request: httpx.Request) -> httpx.Response:
    body = gzip.compress(b'{"data": []}')[:10] + b"\xff" * 8  # a gzip header, then junk
    return httpx.Response(200, stream=httpx.ByteStream(body), headers={"Content-Encoding": "gzip"})


def test_corrupt_gzip_body_is_a_response_decode_error() -> None:
    provider = LlamaSwapProvider(
        "llama-swap://127.0.0.1:18089",
        http_client=httpx.Client(transport=httpx.MockTransport(_corrupt_gzip)),
    )
    with pytest.raises(ResponseDecodeError, match="could not be decoded"):
        provider.list_models()


async def test_corrupt_gzip_body_is_a_response_decode_error_async() -> None:
    provider = LlamaSwapProvider(
        "llama-swap://127.0.0.1:18089",
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(_corrupt_gzip)),
    )
    with pytest.raises(ResponseDecodeError, match="could not be decoded"):
        await provider.alist_models()


# -- packaging: every import declared, versions exported, the OpenAI range pinned -------------


def _requirements() -> list[str]:
    """Every requirement string of ``[project]`` (dependencies and extras)."""
    text = (ROOT / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1].split("\n[tool.", 1)[0]
    return re.findall(r'"([A-Za-z][A-Za-z0-9_.-]*(?:\[[^\]]*\])?\s*[<>=!~][^"]*)"', project)


def _declared() -> set[str]:
    return {re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower() for spec in _requirements()}


def test_every_third_party_import_of_core_is_a_declared_dependency() -> None:
    dists = importlib.metadata.packages_distributions()
    declared = _declared()
    missing: set[str] = set()
    for path in (ROOT / "core" / "llamaswap").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top in {"llamaswap", "__future__"}:
                    continue
                for dist in dists.get(top, [top]):
                    if dist.lower() not in declared:
                        missing.add(f"{path.name}: {top} ({dist})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def test_adapters_export_the_distribution_version() -> None:
    import langchain_llamaswap
    import llama_index_llamaswap

    version = importlib.metadata.version("llamaswap")
    assert llamaswap.__version__ == version
    assert langchain_llamaswap.__version__ == version
    assert llama_index_llamaswap.__version__ == version


def test_openai_is_pinned_to_the_minor_release_tested() -> None:
    # llamaswap relies on private SDK hooks (below), so each extra allows only the openai
    # minor release the suite runs against, never the next one unseen.
    from packaging.requirements import Requirement
    from packaging.version import Version

    pins = [Requirement(spec) for spec in _requirements() if spec.startswith("openai")]
    assert pins, "no extra of llamaswap pins openai"
    tested = Version(openai.__version__)
    untested = f"{tested.major}.{tested.minor + 1}.0"
    for pin in pins:
        assert pin.specifier.contains(openai.__version__), (str(pin), openai.__version__)
        assert not pin.specifier.contains(untested), f"{pin} allows untested openai {untested}"


def test_private_openai_hooks_llamaswap_overrides_still_exist() -> None:
    # llamaswap overrides OpenAI._make_status_error (typed errors) and iterates
    # Stream._iterator (closing streams); if a release moves either, fail here, by name.
    for cls in (openai.OpenAI, openai.AsyncOpenAI):
        hook = getattr(cls, "_make_status_error", None)
        assert hook is not None, f"{cls.__name__}._make_status_error is gone"
        params = list(inspect.signature(hook).parameters)
        assert params == ["self", "err_msg", "body", "response"], params
    request = httpx.Request("POST", "http://h/v1/chat/completions")
    response = httpx.Response(200, content=b"data: [DONE]\n\n", request=request)
    client = openai.OpenAI(api_key="x", base_url="http://h/v1")
    stream = openai.Stream(cast_to=object, response=response, client=client)
    assert hasattr(stream, "_iterator"), "openai.Stream._iterator is gone"


def test_status_hook_turns_sdk_errors_into_llamaswap_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "model not found"})

    client = compat.OpenAI(
        api_key="x",
        base_url="http://127.0.0.1:18090/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(llamaswap.NotFoundError) as info:
        client.models.retrieve("nope")
    assert isinstance(info.value, openai.NotFoundError)


# -- one Retry-After parser: the error reports what the retry layer would wait -------------


def test_rate_limit_error_reads_an_http_date_retry_after() -> None:
    import email.utils
    from datetime import datetime, timedelta, timezone

    when = datetime.now(timezone.utc) + timedelta(seconds=120)

    def busy(request: httpx.Request) -> httpx.Response:
        headers = {"Retry-After": email.utils.format_datetime(when, usegmt=True)}
        return httpx.Response(429, text="Too many requests", headers=headers)

    provider = LlamaSwapProvider(
        "llama-swap://127.0.0.1:18092",
        http_client=httpx.Client(transport=httpx.MockTransport(busy)),
    )
    with pytest.raises(llamaswap.RateLimitError) as info:
        provider.running()
    assert info.value.retry_after is not None
    assert 60 < info.value.retry_after <= 120
