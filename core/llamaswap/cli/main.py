"""``main()``: parse, run one subcommand, and turn every known failure into an exit code.

Known failures (llama-swap refused, failed or is unreachable; a bad command line) print
``error: ...`` and ``hint: ...`` on stderr, no traceback. Ctrl-C exits 130 after saying
what llama-swap is left doing; commands never change llama-swap's state on the way out.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from llamaswap.cli.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    INSTALL_HINT,
    Interrupted,
    explain,
)
from llamaswap.cli.parser import build_parser

if TYPE_CHECKING:
    from llamaswap import LlamaSwapProvider
    from llamaswap.cli.terminal import Terminal

    Command = Callable[[LlamaSwapProvider, argparse.Namespace, Terminal], int]

# command name -> "module:function", imported only when that command runs
COMMANDS = {
    "models": "manage:models",
    "running": "manage:running",
    "unload": "manage:unload",
    "health": "manage:health",
    "version": "manage:version",
    "load": "load:load",
    "events": "streams:events",
    "logs": "streams:logs",
    "image": "image:image",
    "chat": "chat:chat",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``llamaswap`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        import rich  # noqa: F401 - only to say how to install it when it is missing
    except ImportError:
        print(f"llamaswap: the command line needs rich: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_ERROR

    from llamaswap import LlamaSwapProvider
    from llamaswap.cli.terminal import Terminal

    term = Terminal.detect()
    base_url, keyed = "(no address)", False
    try:
        try:
            with LlamaSwapProvider(args.dsn) as provider:
                base_url, keyed = provider.base_url, bool(provider.api_key)
                return _command(args.command)(provider, args, term)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
    except Interrupted as stop:
        term.status(f"interrupted: {stop.note}" if stop.note != "interrupted" else stop.note)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): nothing left to say
        return EXIT_ERROR
    except Exception as exc:
        failure = explain(exc, base_url=base_url, keyed=keyed)
        if failure is None:
            raise  # a bug: the traceback is the most useful report
        term.error(failure.message, failure.hint)
        return failure.code


def _command(name: str) -> Command:
    module_name, _, function = COMMANDS[name].partition(":")
    module = importlib.import_module(f"llamaswap.cli.{module_name}")
    command: Command = getattr(module, function)
    return command


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
