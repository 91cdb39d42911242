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

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import LlamaSwapConnectionError, LlamaSwapProvider
from llamaswap_rig.runner import Rig

pytestmark = pytest.mark.integration

MODEL = "fake-model"


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
    rig = rig_factory(models=(MODEL,))
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
