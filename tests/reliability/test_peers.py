"""Scale-out across hosts: a llama-swap that lists another llama-swap under ``peers``.

``peered_rigs`` runs two instances on loopback: ``front`` (no key, ``fake-model`` locally)
lists ``back`` (keyed; ``fake-model`` and ``scripted``) as peer ``far`` with ``apiKey``, plus
an id ``back`` does not serve and a second peer whose address nothing listens on. Every
client goes through ``front`` only; ``back`` is queried directly only to check what ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap
from llamaswap import (
    LlamaSwapProvider,
    ModelInfo,
    ModelState,
    ModelStatus,
    NotFoundError,
    UpstreamError,
)
from llamaswap_rig.pytest_plugin import PEER_API_KEY, PeeredRigs

pytestmark = pytest.mark.integration

LOREM = "Lorem ipsum dolor sit amet consectetur adipiscing elit"


@pytest.fixture
def front(peered_rigs: PeeredRigs) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(peered_rigs.front.dsn) as p:
        yield p


@pytest.fixture
def back(peered_rigs: PeeredRigs) -> Iterator[LlamaSwapProvider]:
    """The peer itself, reached directly with its own key (for checking only)."""
    with LlamaSwapProvider(peered_rigs.back.dsn) as p:
        p.unload()
        yield p


def running_ids(provider: LlamaSwapProvider) -> set[str]:
    return {m.model for m in provider.running()}


# -- listing ------------------------------------------------------------------------------


def test_lists_peer_models_as_peer_slash_model_with_type_peer(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider
) -> None:
    models = {m.id: m for m in front.list_models()}
    listed = {peered_rigs.fqn(m) for m in (*peered_rigs.models, peered_rigs.missing)}
    assert listed | {"fake-model", f"{peered_rigs.down_peer}/{peered_rigs.down_model}"} == set(
        models
    )
    for mid in listed:
        info = models[mid]
        assert info.type == "peer"
        assert info.peer_id == peered_rigs.peer_id
        # llama-swap lists a peer's model as unloaded whatever runs there: state unknown
        assert (info.state, info.raw_state) == (ModelState.UNKNOWN, "unloaded")
        assert not info.loaded
        assert info.name == f"{peered_rigs.peer_id}: {mid.split('/', 1)[1]}"
    local = models["fake-model"]
    assert (local.type, local.peer_id) == ("model", None)


async def test_async_listing_matches_sync(front: LlamaSwapProvider) -> None:
    assert [m.id for m in await front.alist_models()] == [m.id for m in front.list_models()]


def test_get_model_takes_ids_with_slash_and_bare_peer_names(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider
) -> None:
    fqn = peered_rigs.fqn("scripted")
    info: ModelInfo = front.get_model(fqn)
    assert (info.id, info.type, info.peer_id) == (fqn, "peer", peered_rigs.peer_id)
    # A bare name that only one peer lists routes there, as llama-swap routes it.
    assert front.get_model("scripted").id == fqn
    # A bare name a local model has stays local.
    assert front.get_model("fake-model").type == "model"
    with pytest.raises(NotFoundError) as info_err:
        front.get_model(f"{peered_rigs.peer_id}/nothing")
    assert fqn in info_err.value.available


async def test_aget_model_with_slash(peered_rigs: PeeredRigs, front: LlamaSwapProvider) -> None:
    info = await front.aget_model(peered_rigs.fqn("fake-model"))
    assert info.peer_id == peered_rigs.peer_id


def test_events_list_peer_models(peered_rigs: PeeredRigs, front: LlamaSwapProvider) -> None:
    status: ModelStatus | None = None
    events = front.events(timeout=10)
    try:
        for event in events:
            if isinstance(event, ModelStatus):
                status = event
                break
    finally:
        events.close()  # type: ignore[attr-defined]
    assert status is not None
    peers = {m.id: m for m in status.models if m.peer_id}
    assert set(peers) >= {peered_rigs.fqn(m) for m in peered_rigs.models}
    assert all(
        m.peer_id == peered_rigs.peer_id and (m.state, m.raw_state) == (ModelState.UNKNOWN, "")
        for m in peers.values()
        if m.id.startswith(peered_rigs.peer_id + "/")
    )
    assert status.state_of("fake-model") in ("stopped", "starting", "ready", "stopping")


# -- load / unload -----------------------------------------------------------------------------


def test_load_peer_model_loads_it_on_the_peer(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider, back: LlamaSwapProvider
) -> None:
    assert running_ids(back) == set()
    front.load(peered_rigs.fqn("scripted"))
    assert running_ids(back) == {"scripted"}
    assert "scripted" not in running_ids(front)  # front runs nothing for a peer's model
    front.load(peered_rigs.fqn("fake-model"))  # the peer swaps (one model at a time)
    assert running_ids(back) == {"fake-model"}


async def test_aload_bare_peer_name_loads_it_on_the_peer(
    front: LlamaSwapProvider, back: LlamaSwapProvider
) -> None:
    await front.aload("scripted")
    assert running_ids(back) == {"scripted"}


def test_load_sends_the_id_quoted_in_the_path_and_query(peered_rigs: PeeredRigs) -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> None:
        seen.append(request.url.raw_path.decode())

    with (
        httpx.Client(event_hooks={"request": [record]}) as client,
        LlamaSwapProvider(peered_rigs.front.dsn, http_client=client) as p,
    ):
        p.load(peered_rigs.fqn("scripted"))
    # (an id with "/" may first be checked against GET /v1/models)
    sent = [path for path in seen if path != "/v1/models"]
    assert sent == ["/upstream/far%2Fscripted/health", "/props?model=far%2Fscripted"]


def test_load_local_model_needs_one_request(peered_rigs: PeeredRigs) -> None:
    seen: list[str] = []
    with (
        httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]}) as client,
        LlamaSwapProvider(peered_rigs.front.dsn, http_client=client) as p,
    ):
        p.load("fake-model")
    assert seen == ["/upstream/fake-model/health"]


def test_load_id_the_peer_does_not_serve_is_not_found(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider
) -> None:
    with pytest.raises(NotFoundError) as info:
        front.load(peered_rigs.fqn(peered_rigs.missing))
    err = info.value
    assert err.status_code == 404
    assert err.model == peered_rigs.fqn(peered_rigs.missing)
    assert "peer" in err.message and "peers:" in err.message
    assert PEER_API_KEY not in str(err) + err.body


def test_load_through_unreachable_peer_is_upstream_error(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider
) -> None:
    with pytest.raises(UpstreamError) as info:
        front.load(f"{peered_rigs.down_peer}/{peered_rigs.down_model}")
    assert info.value.status_code == 502
    assert "peer proxy error" in info.value.message


def test_unload_peer_model_is_llamaswaps_404_naming_the_peer(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider, back: LlamaSwapProvider
) -> None:
    fqn = peered_rigs.fqn("scripted")
    front.load(fqn)
    with pytest.raises(NotFoundError) as info:
        front.unload(fqn)
    assert info.value.status_code == 404
    assert info.value.model == fqn
    assert repr(peered_rigs.peer_id) in info.value.message
    with pytest.raises(NotFoundError, match="peer"):
        front.unload("scripted")  # the bare name too
    front.unload()  # unload everything: peers are never affected
    assert running_ids(back) == {"scripted"}


async def test_aunload_peer_model_is_not_found(
    peered_rigs: PeeredRigs, front: LlamaSwapProvider
) -> None:
    with pytest.raises(NotFoundError, match="served by peer"):
        await front.aunload(peered_rigs.fqn("fake-model"))


def test_upstream_passthrough_takes_escaped_and_plain_slash(peered_rigs: PeeredRigs) -> None:
    """``/upstream/<peer>/<model>/health`` with the slash escaped or plain reaches the peer's
    own ``/health`` (the rig's llama-swap here; what load relies on)."""
    base = peered_rigs.front.base_url
    for path in ("/upstream/far%2Ffake-model/health", "/upstream/far/fake-model/health"):
        r = httpx.get(base + path, timeout=10)
        assert (r.status_code, r.text.strip()) == (200, "OK"), path  # the peer's own /health


# -- chat through the first instance --------------------------------------------------------


def test_langchain_chats_with_peer_model(peered_rigs: PeeredRigs) -> None:
    chat = ChatLlamaSwap(dsn=peered_rigs.front.dsn, model=peered_rigs.fqn("fake-model"))
    reply = chat.invoke("hello")
    assert isinstance(reply, AIMessage)
    assert reply.content == LOREM
    assert reply.response_metadata["finish_reason"] == "stop"


async def test_langchain_astream_with_peer_model(peered_rigs: PeeredRigs) -> None:
    chat = ChatLlamaSwap(dsn=peered_rigs.front.dsn, model=peered_rigs.fqn("fake-model"))
    text = ""
    async for chunk in chat.astream([HumanMessage("hello")]):
        assert isinstance(chunk.content, str)
        text += chunk.content
    assert text.strip() == LOREM


def test_langchain_peer_gets_its_own_id_and_key(peered_rigs: PeeredRigs) -> None:
    """The body's ``peer/model`` becomes the peer's id; front injects the peer's apiKey."""
    chat = ChatLlamaSwap(dsn=peered_rigs.front.dsn, model=peered_rigs.fqn("scripted"))
    echo = json.loads(str(chat.invoke("__echo_request__").content))
    assert echo["body"]["model"] == "scripted"
    headers = {k.lower(): v for k, v in echo["headers"].items()}
    assert headers["authorization"] == f"Bearer {PEER_API_KEY}"


def test_langchain_tool_call_through_peer(peered_rigs: PeeredRigs) -> None:
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    chat = ChatLlamaSwap(dsn=peered_rigs.front.dsn, model=peered_rigs.fqn("scripted"))
    reply = chat.bind_tools([lookup]).invoke("Paris")
    assert isinstance(reply, AIMessage)
    assert [c["name"] for c in reply.tool_calls] == ["lookup"]


def test_langchain_provider_loads_peer_model(
    peered_rigs: PeeredRigs, back: LlamaSwapProvider
) -> None:
    chat = ChatLlamaSwap(dsn=peered_rigs.front.dsn, model=peered_rigs.fqn("scripted"))
    chat.provider.load(chat.model_name)
    assert running_ids(back) == {"scripted"}


def test_llamaindex_chats_with_peer_model(peered_rigs: PeeredRigs) -> None:
    llm = LlamaSwap(model=peered_rigs.fqn("scripted"), dsn=peered_rigs.front.dsn)
    assert llm.complete("hi").text == "scripted reply"
    reply = llm.chat([ChatMessage(role="user", content="hi")])
    assert reply.message.content == "scripted reply"
    assert llm.metadata.model_name == peered_rigs.fqn("scripted")


async def test_llamaindex_astream_with_peer_model(peered_rigs: PeeredRigs) -> None:
    llm = LlamaSwap(model=peered_rigs.fqn("fake-model"), dsn=peered_rigs.front.dsn)
    text = ""
    async for part in await llm.astream_chat([ChatMessage(role="user", content="hi")]):
        text += part.delta or ""
    assert text.strip() == LOREM
