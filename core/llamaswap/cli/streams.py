"""The following commands: ``events`` (``/api/events``) and ``logs`` (``/logs``, ``/logs/stream``).

Both run until llama-swap closes the stream or the user presses Ctrl-C (exit 130).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from llamaswap import (
    Activity,
    Event,
    InFlight,
    LlamaSwapProvider,
    LogData,
    ModelStatus,
    ProfileChanged,
    UIConfig,
    UnknownEvent,
)
from llamaswap.cli.errors import EXIT_OK, UsageError
from llamaswap.cli.terminal import Terminal, state_style


def events(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Print each event as it arrives: a readable line, or ``--json`` one object a line."""
    states: dict[str, str] = {}
    for event in provider.events():
        if args.no_logs and isinstance(event, LogData):
            continue
        if args.json:
            term.json({"type": event.type, "data": payload(event)})
            continue
        stamp = time.strftime("%H:%M:%S")
        for text in describe(event, states):
            term.out.print(Text.assemble((f"{stamp} ", "dim"), text), soft_wrap=True)
    term.status("llama-swap closed the event stream (a config reload or a shutdown)")
    return EXIT_OK


def payload(event: Event) -> Any:
    """The event's data as llama-swap sent it (its envelope holds it as a JSON string)."""
    if isinstance(event, UnknownEvent):
        return event.data
    raw = event.raw
    data = raw.get("data") if isinstance(raw, Mapping) else raw
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def describe(event: Event, states: dict[str, str]) -> list[Text]:
    """Readable lines for one event; a model status prints only the models that changed."""
    if isinstance(event, ModelStatus):
        lines: list[Text] = []
        for model in event.models:
            if states.get(model.id) != model.state:
                states[model.id] = model.state
                lines.append(
                    Text.assemble(
                        "model ", (model.id, "bold"), " ", (model.state, state_style(model.state))
                    )
                )
        return lines
    if isinstance(event, LogData):
        return [
            Text.assemble((f"[{event.source}] ", "cyan"), line)
            for line in event.data.splitlines()
            if line.strip()
        ]
    if isinstance(event, InFlight):
        shown = ", ".join(
            f"{r.get('method', '')} {r.get('req_path', '')} {r.get('model', '')}".strip()
            for r in event.requests
        )
        ident = f" #{event.request_id}" if event.request_id else ""
        return [Text(f"in flight: {event.operation}{ident}" + (f" {shown}" if shown else ""))]
    if isinstance(event, Activity):
        return [Text(f"activity: request #{event.id} finished")]
    if isinstance(event, ProfileChanged):
        return [Text(f"profile: {event.active or 'none'}")]
    if isinstance(event, UIConfig):
        return [Text(f"ui config: {json.dumps(dict(event.config), default=str)}", style="dim")]
    return [Text(f"{event.type or 'unknown'}: {json.dumps(payload(event), default=str)}")]


def logs(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Print a log's history, or follow it (``--follow``) until Ctrl-C."""
    source = args.source
    if args.no_history and not args.follow:
        raise UsageError(
            "--no-history shows only lines written from now on, so it needs --follow",
            "llamaswap logs --follow --no-history",
        )
    name = source or "all"
    if not args.follow:
        text = provider.logs(source)
        if args.json:
            term.json({"source": name, "lines": text.splitlines()})
        else:
            term.write(text if not text or text.endswith("\n") else text + "\n")
        return EXIT_OK
    for line in provider.stream_logs(source, history=not args.no_history):
        if args.json:
            term.json({"source": name, "line": line})
        else:
            term.write(line + "\n")
    term.status("llama-swap closed the log stream (a config reload or a shutdown)")
    return EXIT_OK
