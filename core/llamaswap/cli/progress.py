"""One live status line on stderr: redrawn in a terminal, one plain line per change otherwise."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from llamaswap.cli.terminal import Terminal


class LiveLine:
    """A spinner, a description, a bar (pulsing without a total), elapsed time and a note.

    Outside a terminal nothing is redrawn: each new description is printed once, so a
    log or a test sees every state change as its own line.
    """

    def __init__(self, term: Terminal, description: str, *, plain: bool = True) -> None:
        self._term = term
        self._description = description
        self._plain = plain  # False: nothing at all outside a terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> LiveLine:
        if self._term.interactive:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}", style="dim"),
                console=self._term.err,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=None, note="")
        elif self._plain:
            self._term.status(self._description)
        return self

    def update(
        self,
        *,
        description: str | None = None,
        completed: float | None = None,
        total: float | None = None,
        note: str = "",
    ) -> None:
        """Redraw (terminal) or print the description if it changed (otherwise)."""
        changed = description is not None and description != self._description
        if description is not None:
            self._description = description
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=self._description,
                completed=completed or 0,
                total=total,
                note=note,
            )
        elif changed and self._plain:
            self._term.status(self._description)

    def stop(self) -> None:
        """Take the line off the screen (again is a no-op)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
