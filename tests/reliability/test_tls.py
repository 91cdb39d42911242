"""llama-swap behind TLS with a self-signed certificate (issue 15).

A TLS-terminating proxy (Python's ``ssl`` on asyncio, certificate made by the ``openssl``
CLI) sits in front of a real rig. Every class reaches it through ``verify=<CA path>``;
without it, the error says a certificate failed and how to trust it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.tools import ToolException
from llama_index.core.base.llms.types import ImageBlock, TextBlock

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import LlamaSwapConnectionError, LlamaSwapProvider
from llamaswap_rig.runner import Rig

pytestmark = pytest.mark.integration

MODEL = "fake-model"
EMBED = "embed"  # all-MiniLM-L6-v2 on llama.cpp, 384 dimensions
IMAGE = "sd"  # the rig's image test upstream


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class TLSProxy:
    """Accepts TLS on a loopback port and pipes the plain bytes to ``target_port``."""

    def __init__(
        self, cert: Path, key: Path, target_port: int, client_ca: Path | None = None
    ) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(cert), str(key))
        if client_ca is not None:  # mutual TLS: only clients with this certificate get in
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(cafile=str(client_ca))
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.sock = sock
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self.sock, ssl=self.context)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@pytest.fixture
def tls_swap(rig_factory: Callable[..., Rig], tmp_path: Path) -> Iterator[tuple[str, str]]:
    rig = rig_factory(models=(MODEL, EMBED, IMAGE))
    cert, key = self_signed(tmp_path)
    proxy = TLSProxy(cert, key, rig.port)
    yield f"https://localhost:{proxy.port}", str(cert)
    proxy.stop()


def test_without_verify_the_error_says_the_certificate_failed(tls_swap: tuple[str, str]) -> None:
    url, _ca = tls_swap
    with pytest.raises(LlamaSwapConnectionError, match="certificate") as info:
        LlamaSwapProvider(url).list_models()
    assert "verify=" in str(info.value)
    assert "check that llama-swap is running" not in str(info.value)
    # The OpenAI SDK path (chat classes) says the same.
    with pytest.raises(LlamaSwapConnectionError, match="certificate"):
        ChatLlamaSwap(model=MODEL, dsn=url).invoke("hi")
    with pytest.raises(LlamaSwapConnectionError, match="certificate"):
        LlamaSwap(model=MODEL, dsn=url, context_window=2048).complete("hi")


def test_every_class_reaches_a_self_signed_llama_swap_through_verify(
    tls_swap: tuple[str, str],
) -> None:
    url, ca = tls_swap
    provider = LlamaSwapProvider(url, verify=ca)
    assert provider.health() is True
    assert MODEL in [m.id for m in provider.list_models()]
    chat = ChatLlamaSwap(model=MODEL, dsn=url, verify=ca)
    assert chat.invoke("hi").content
    llm = LlamaSwap(model=MODEL, dsn=url, verify=ca, context_window=2048)
    assert llm.complete("hi").text
    # The rest make their calls through the same .provider: its management API must work.
    for other in (
        LlamaSwapEmbeddings(model=MODEL, dsn=url, verify=ca),
        LlamaSwapImageTool(model=MODEL, dsn=url, verify=ca),
        LlamaSwapEmbedding(model=MODEL, dsn=url, verify=ca),
        LlamaSwapImageToolSpec(model=MODEL, dsn=url, verify=ca),
    ):
        assert MODEL in [m.id for m in other.provider.list_models()], type(other).__name__
    provider.close()


def test_a_client_certificate_gets_through_mutual_tls(
    rig_factory: Callable[..., Rig], tmp_path: Path
) -> None:
    rig = rig_factory(models=(MODEL,))
    cert, key = self_signed(tmp_path)
    client_cert, client_key = self_signed(tmp_path, "client")
    proxy = TLSProxy(cert, key, rig.port, client_ca=client_cert)
    url = f"https://localhost:{proxy.port}"
    try:
        with_cert = LlamaSwapProvider(
            url, verify=str(cert), cert=(str(client_cert), str(client_key))
        )
        assert MODEL in [m.id for m in with_cert.list_models()]
        chat = ChatLlamaSwap(
            model=MODEL, dsn=url, verify=str(cert), cert=(str(client_cert), str(client_key))
        )
        assert chat.invoke("hi").content
        # TLS 1.3 reports a missing client certificate as a closed connection.
        with pytest.raises(LlamaSwapConnectionError, match=r"client certificate.*cert="):
            LlamaSwapProvider(url, verify=str(cert)).list_models()
        with_cert.close()
    finally:
        proxy.stop()


# -- embeddings and image classes end to end (their own calls, not only .provider) ----------


def test_langchain_embeddings_and_image_tool_work_through_verify(
    tls_swap: tuple[str, str],
) -> None:
    url, ca = tls_swap
    embeddings = LlamaSwapEmbeddings(model=EMBED, dsn=url, verify=ca)
    assert len(embeddings.embed_query("a lighthouse")) == 384
    vectors = embeddings.embed_documents(["one", "two"])
    assert [len(v) for v in vectors] == [384, 384]
    assert len(asyncio.run(embeddings.aembed_query("a lighthouse"))) == 384
    assert [len(v) for v in asyncio.run(embeddings.aembed_documents(["one", "two"]))] == [384, 384]
    tool = LlamaSwapImageTool(model=IMAGE, dsn=url, verify=ca)
    message = tool.invoke(
        {"type": "tool_call", "id": "c1", "name": tool.name, "args": {"prompt": "a red square"}}
    )
    assert message.artifact["images"][0]["data"].startswith(b"\x89PNG")


def test_llama_index_embedding_and_image_spec_work_through_verify(
    tls_swap: tuple[str, str],
) -> None:
    url, ca = tls_swap
    embedding = LlamaSwapEmbedding(model=EMBED, dsn=url, verify=ca)
    assert len(embedding.get_text_embedding("a lighthouse")) == 384
    assert len(asyncio.run(embedding.aget_text_embedding("a lighthouse"))) == 384
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=url, verify=ca)
    blocks = spec.generate_image("a red square")
    images = [b for b in blocks if isinstance(b, ImageBlock)]
    assert images and images[0].resolve_image().read().startswith(b"\x89PNG")
    output = asyncio.run(spec.to_tool_list()[0].acall(prompt="a red square"))
    assert [type(b) for b in output.blocks] == [TextBlock, ImageBlock]


def test_embeddings_and_image_classes_without_verify_name_the_certificate(
    tls_swap: tuple[str, str],
) -> None:
    url, _ca = tls_swap
    lc_embeddings = LlamaSwapEmbeddings(model=EMBED, dsn=url)
    li_embedding = LlamaSwapEmbedding(model=EMBED, dsn=url)
    failing: dict[str, Callable[[], object]] = {
        "LlamaSwapEmbeddings.embed_query": lambda: lc_embeddings.embed_query("x"),
        "LlamaSwapEmbeddings.embed_documents": lambda: lc_embeddings.embed_documents(["x"]),
        "LlamaSwapEmbeddings.aembed_query": lambda: asyncio.run(lc_embeddings.aembed_query("x")),
        "LlamaSwapEmbeddings.aembed_documents": lambda: asyncio.run(
            lc_embeddings.aembed_documents(["x"])
        ),
        "LlamaSwapEmbedding.get_text_embedding": lambda: li_embedding.get_text_embedding("x"),
        "LlamaSwapEmbedding.aget_text_embedding": lambda: asyncio.run(
            li_embedding.aget_text_embedding("x")
        ),
        "LlamaSwapImageToolSpec.generate_image": lambda: LlamaSwapImageToolSpec(
            model=IMAGE, dsn=url
        ).generate_image("x"),
    }
    for name, call in failing.items():
        with pytest.raises(LlamaSwapConnectionError, match="certificate") as info:
            call()
        assert "verify=" in str(info.value), name
    # The LangChain tool hands a failed render to the agent as a ToolException with the reason.
    with pytest.raises(ToolException, match="certificate"):
        LlamaSwapImageTool(model=IMAGE, dsn=url).invoke({"prompt": "x"})
