"""A watchdog process that stops the double's upstreams even when the double is SIGKILLed.

A SIGKILLed process runs no cleanup, and ``PR_SET_PDEATHSIG`` on an upstream reaches
that upstream alone, never the children it started. So each double starts one small
reaper in a session of its own and keeps the write end of a pipe to it; for every
upstream process group the double tells it ``+<pgid>`` when the group is spawned and
``-<pgid>`` once the group is gone. The kernel closes the pipe when the double dies in
any way; on that EOF the reaper SIGTERMs every group still listed, waits for the groups
to empty (up to a grace period), SIGKILLs what is left and exits.

Real llama-swap has nothing like it (``Setpgid``, no ``Pdeathsig``): a SIGKILLed
llama-swap leaves its upstreams running. This is the double being tidier than the
binary it mimics, so that test runs never leak processes.

A group spawned in the microseconds between the fork and the ``+`` line is not covered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05


class Reaper:
    """The double's side: start the reaper and keep it told about upstream groups."""

    def __init__(self) -> None:
        read_end, self._write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the double's group must not reach it
            )
        except BaseException:
            os.close(self._write_fd)
            raise
        finally:
            os.close(read_end)

    def register(self, pgid: int) -> None:
        """A new upstream process group: stop it if the double dies."""
        self._send(f"+{pgid}\n")

    def unregister(self, pgid: int) -> None:
        """The group has been stopped by the double itself: forget it."""
        self._send(f"-{pgid}\n")

    def _send(self, line: str) -> None:
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self._write_fd, line.encode())

    def close(self) -> None:
        """Orderly exit: EOF to the reaper, then wait for it so nothing outlives the double."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
            self._proc.wait()


_CURRENT: Reaper | None = None


def start() -> Reaper:
    """Start this process's reaper (once)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Reaper()
    return _CURRENT


def register(pgid: int) -> None:
    """Tell the reaper, if one runs, about a new upstream group."""
    if _CURRENT is not None:
        _CURRENT.register(pgid)


def unregister(pgid: int) -> None:
    """Tell the reaper, if one runs, that an upstream group is gone."""
    if _CURRENT is not None:
        _CURRENT.unregister(pgid)


def stop() -> None:
    """Close the reaper (idempotent); it stops any group still listed."""
    global _CURRENT
    reaper, _CURRENT = _CURRENT, None
    if reaper is not None:
        reaper.close()


# -- the reaper process ---------------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_groups(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _reap(groups: set[int]) -> None:
    _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        groups = {g for g in groups if _group_alive(g)}
        if not groups:
            return
        time.sleep(_POLL_SECONDS)
    _signal_groups(groups, signal.SIGKILL)


def _main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))
    _reap(groups)


if __name__ == "__main__":
    _main()
