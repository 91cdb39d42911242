"""Where the command line writes: data on stdout, status and errors on stderr.

In a terminal (stdout and stderr both TTYs) output has colour and status lines redraw in
place. Otherwise (a pipe, a file, a test) there is no colour, no redraw and no wrapping:
each status change is one plain line, and tables are whitespace-aligned columns.
``NO_COLOR`` turns colour off in a terminal too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 1000  # no wrapping when the output is not a terminal


class Terminal:
    """The two output streams, and whether they are an interactive terminal."""

    def __init__(self, *, interactive: bool, colour: bool) -> None:
        self.interactive = interactive
        options: dict[str, Any] = {
            "force_terminal": interactive,
            "color_system": "auto" if colour else None,
            "highlight": False,
            "width": None if interactive else PLAIN_WIDTH,
        }
        self.out = Console(file=sys.stdout, **options)
        self.err = Console(file=sys.stderr, **options)

    @classmethod
    def detect(cls) -> Terminal:
        """Interactive only when both streams are terminals; colour unless NO_COLOR is set."""
        interactive = _isatty(sys.stdout) and _isatty(sys.stderr)
        dumb = os.environ.get("TERM") == "dumb"
        colour = interactive and not dumb and not os.environ.get("NO_COLOR")
        return cls(interactive=interactive, colour=colour)

    # -- stdout: data ----------------------------------------------------------------

    def line(self, text: str, style: str | None = None) -> None:
        """One line of output (no markup is read from ``text``)."""
        self.out.print(Text(text, style=style or ""), soft_wrap=True)

    def write(self, text: str) -> None:
        """Raw text as it comes (a streamed answer), flushed at once."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def json(self, value: Any) -> None:
        """One JSON document on one line."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Text | str]]) -> None:
        """Rows under headers: boxed in a terminal, plain aligned columns otherwise."""
        table = Table(
            box=box.SIMPLE_HEAD if self.interactive else None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if self.interactive else "",
        )
        for header in headers:
            table.add_column(header, overflow="fold" if self.interactive else "ignore")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    # -- stderr: status and errors ---------------------------------------------------------

    def status(self, text: str, style: str = "dim") -> None:
        """A status line (progress, timings, notes) on stderr."""
        self.err.print(Text(text, style=style), soft_wrap=True)

    def error(self, message: str, hint: str = "") -> None:
        """A failure: ``error: ...`` and, when there is one, ``hint: ...``."""
        self.err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
        if hint:
            self.err.print(Text.assemble(("hint: ", "yellow"), hint), soft_wrap=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def state_style(state: str) -> str:
    """The colour of a model state word."""
    return {
        "ready": "green",
        "loaded": "green",
        "starting": "yellow",
        "stopping": "yellow",
        "stopped": "dim",
        "unloaded": "dim",
        "failed": "red",
    }.get(state, "")
