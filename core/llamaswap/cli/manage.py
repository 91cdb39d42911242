"""The one-shot commands: ``models``, ``running``, ``unload``, ``health``, ``version``."""

from __future__ import annotations

import argparse

from rich.text import Text

from llamaswap import LlamaSwapProvider, __version__
from llamaswap.cli.errors import EXIT_ERROR, EXIT_OK
from llamaswap.cli.terminal import Terminal, state_style


def models(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """The ``/v1/models`` list as a table (or JSON); never loads a model."""
    listed = provider.list_models()
    if args.json:
        term.json(
            [
                {
                    "id": m.id,
                    "name": m.name,
                    "description": m.description,
                    "type": m.type,
                    "state": m.state,
                    "context_length": m.context_length,
                    "aliases": list(m.aliases),
                    "peer": m.peer_id,
                    "capabilities": dict(m.capabilities),
                }
                for m in listed
            ]
        )
        return EXIT_OK
    if not listed:
        term.status("llama-swap lists no models")
        return EXIT_OK
    term.table(
        ["ID", "NAME", "STATE", "CONTEXT", "ALIASES", "PEER"],
        [
            [
                m.id,
                m.name or "-",
                Text(m.state or "-", style=state_style(m.state)),
                str(m.context_length) if m.context_length else "-",
                ",".join(m.aliases) or "-",
                m.peer_id or "-",
            ]
            for m in listed
        ],
    )
    return EXIT_OK


def running(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """The ``/running`` list: model, state, configured TTL, name."""
    up = provider.running()
    if args.json:
        term.json(
            [
                {
                    "model": r.model,
                    "state": r.state,
                    "ttl": r.ttl,
                    "name": r.name,
                    "description": r.description,
                    "proxy": r.proxy,
                }
                for r in up
            ]
        )
        return EXIT_OK
    if not up:
        term.status("no model is running")
        return EXIT_OK
    term.table(
        ["MODEL", "STATE", "TTL", "NAME"],
        [
            [
                r.model,
                Text(r.state or "-", style=state_style(r.state)),
                "never" if r.ttl == 0 else (f"{r.ttl}s" if r.ttl else "-"),
                r.name or "-",
            ]
            for r in up
        ],
    )
    return EXIT_OK


def unload(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Stop one model, or every local one."""
    provider.unload(args.model)
    if args.json:
        term.json({"unloaded": args.model, "all": args.model is None})
    elif args.model is None:
        term.line("unloaded every local model")
    else:
        term.line(f"unloaded {args.model}")
    return EXIT_OK


def health(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Exit 0 when llama-swap answers ``GET /health``, 1 when it does not."""
    healthy = provider.health()
    if args.json:
        term.json({"base_url": provider.base_url, "healthy": healthy})
    elif healthy:
        term.line(f"llama-swap at {provider.base_url} is up")
    else:
        term.error(
            f"llama-swap at {provider.base_url} did not answer GET /health",
            "start llama-swap there, or point --dsn / LLAMASWAP_DSN at it",
        )
    return EXIT_OK if healthy else EXIT_ERROR


def version(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """llama-swap's build (``/api/version``) and this client's version."""
    info = provider.version()
    if args.json:
        term.json(
            {
                "llama_swap": {
                    "version": info.version,
                    "commit": info.commit,
                    "build_date": info.build_date,
                },
                "llamaswap": __version__,
            }
        )
        return EXIT_OK
    details = ", ".join(
        part
        for part in (
            f"commit {info.commit}" if info.commit else "",
            f"built {info.build_date}" if info.build_date else "",
        )
        if part
    )
    term.line(f"llama-swap {info.version}" + (f" ({details})" if details else ""))
    term.line(f"llamaswap {__version__} (this client)")
    return EXIT_OK
