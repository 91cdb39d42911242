"""Command line of the llama-swap test double, flag-compatible with the real binary.

``python -m llama_swap_double -config FILE -listen 127.0.0.1:PORT`` (``--flag`` and
``-flag=value`` work too, like Go's flag package). SIGTERM/SIGINT stop every
upstream before exit; an ``atexit`` hook SIGKILLs any process group left over, and
the :mod:`reaper` stops the upstreams of a double that was SIGKILLed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import sys
from dataclasses import dataclass

from aiohttp import web

from . import BUILD_DATE, COMMIT, VERSION, reaper
from .app import DoubleServer, build_app
from .config import Config, ConfigError, load_config
from .process import kill_all_now

USAGE = """Usage of llama-swap (test double):
  -config string      config file name
  -listen string      listen address (default ":8080", the double binds 127.0.0.1 for an empty host)
  -version            show version of build
  -watch-config       accepted and ignored by the double
  -config-dir string  not supported by the double
"""

SHUTDOWN_HARD_LIMIT = 35.0


@dataclass
class Options:
    """Parsed flags."""

    config: str = ""
    listen: str = ":8080"
    version: bool = False


def parse_args(argv: list[str]) -> Options:
    """Go-style flags: ``-x v``, ``--x v``, ``-x=v``; booleans take no value."""
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            raise SystemExit(f"unexpected argument {arg!r}\n{USAGE}")
        name, eq, value = arg.lstrip("-").partition("=")
        if name in ("version", "watch-config"):
            if name == "version":
                opts.version = not eq or value.lower() in ("1", "t", "true")
        elif name in ("config", "listen", "config-dir", "tls-cert-file", "tls-key-file"):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise SystemExit(f"flag needs an argument: -{name}\n{USAGE}")
                value = argv[i]
            if name == "config":
                opts.config = value
            elif name == "listen":
                opts.listen = value
            else:
                raise SystemExit(f"-{name} is not supported by the llama-swap test double")
        elif name in ("h", "help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        else:
            raise SystemExit(f"flag provided but not defined: -{name}\n{USAGE}")
        i += 1
    return opts


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); an empty host means loopback in the double."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


async def serve(cfg: Config, host: str, port: int) -> None:
    """Run until SIGTERM/SIGINT, then stop every upstream and exit."""
    server = DoubleServer(cfg)
    runner = web.AppRunner(
        build_app(server), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    await server.startup()
    server.log.info(f"listening on http://{host}:{port}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP, lambda: server.log.warn("SIGHUP: config reload is not supported")
    )
    await stop.wait()
    try:
        await asyncio.wait_for(server.shutdown(), SHUTDOWN_HARD_LIMIT)
    except asyncio.TimeoutError:
        server.log.error("shutdown timed out, killing upstreams")
    finally:
        kill_all_now()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner.cleanup(), 5)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.version:
        print(f"version: {VERSION} ({COMMIT}), built at {BUILD_DATE}")
        return 0
    if not opts.config:
        print("Error: -config or -config-dir is required", file=sys.stderr)
        return 1
    try:
        cfg = load_config(opts.config)
    except (ConfigError, OSError, ValueError) as err:
        print(f"Error loading config: {err}", file=sys.stderr)
        return 1
    host, port = split_listen(opts.listen)
    atexit.register(kill_all_now)
    reaper.start()
    try:
        asyncio.run(serve(cfg, host, port))
    except KeyboardInterrupt:
        pass
    finally:
        kill_all_now()
        reaper.stop()
    return 0
