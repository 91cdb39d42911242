"""The command line's grammar (argparse, stdlib): subcommands, their flags, their help."""

from __future__ import annotations

import argparse

from llamaswap import __version__

DESCRIPTION = "Manage a llama-swap from a terminal: models, loads, logs, events, images, chat."
EPILOG = """\
The address is --dsn, else $LLAMASWAP_DSN, else llama-swap://localhost:8080
(llama-swap://[key@]host[:port], llama-swap+https://..., or an http(s):// URL).
Exit codes: 0 done, 1 llama-swap refused or failed, 2 bad command line, 130 Ctrl-C.

examples:
  llamaswap models
  llamaswap load qwen
  llamaswap chat qwen "Write a haiku about swapping models"
  llamaswap image "a red fox" --model sd --size 512x512 -o fox.png
  llamaswap --dsn llama-swap://sk-key@gpu-box:8080 logs qwen --follow
"""


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the subcommand; a subcommand's copy only sets what is given.
    default: object = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--dsn",
        default=default,
        help="llama-swap's address, e.g. llama-swap://[key@]host[:port] (default: "
        "$LLAMASWAP_DSN, then llama-swap://localhost:8080)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print data as JSON (one object per line for streams)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``llamaswap`` parser; each subcommand sets ``command`` to its name."""
    parser = argparse.ArgumentParser(
        prog="llamaswap",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"llamaswap {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p, top=False)
        p.set_defaults(command=name)
        return p

    command("models", "list the models llama-swap serves (never loads one)")
    command("running", "list the model processes llama-swap has up")

    load = command("load", "load a model, with live progress until it is ready or fails")
    load.add_argument("model", help="model id or alias")

    unload = command("unload", "stop one model, or every local model")
    unload.add_argument("model", nargs="?", help="model id or alias (default: all)")

    events = command("events", "follow llama-swap's events (/api/events) until Ctrl-C")
    events.add_argument(
        "--no-logs", action="store_true", help="leave out log data events (logData)"
    )

    logs = command("logs", "print llama-swap's log, or one model's, or follow it")
    logs.add_argument(
        "source",
        nargs="?",
        help="a model id or alias, 'proxy' or 'upstream' (default: the combined log)",
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C"
    )
    logs.add_argument(
        "--no-history", action="store_true", help="with --follow: only lines written from now"
    )

    image = command("image", "generate an image and save it (a spinner while it renders)")
    image.add_argument("prompt", help="what to draw")
    image.add_argument("-m", "--model", required=True, help="an image model id, e.g. sd")
    image.add_argument("--size", help="WIDTHxHEIGHT, e.g. 512x512 (default: the server's)")
    image.add_argument("--seed", type=int, help="a seed, for the same image again")
    image.add_argument("-o", "--output", required=True, help="the file to write, e.g. out.png")

    chat = command("chat", "chat with a model: one answer for PROMPT, else a conversation on stdin")
    chat.add_argument("model", help="model id or alias")
    chat.add_argument("prompt", nargs="?", help="the question (omit it for a conversation)")
    chat.add_argument("--system", help="a system message to start the conversation with")
    chat.add_argument("--max-tokens", type=int, help="stop the answer after N tokens")
    chat.add_argument("--temperature", type=float, help="sampling temperature (e.g. 0 to 2)")

    command("health", "check that llama-swap answers (exit 0) or not (exit 1)")
    command("version", "print llama-swap's version and this client's")
    return parser
