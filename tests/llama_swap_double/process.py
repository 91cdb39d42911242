"""One upstream server process of the test double: start, health-check, stop, TTL.

Every upstream runs in its own process group so a stop (SIGTERM, then SIGKILL
after the grace period) reaches its children too, and the group is killed as soon as
its leader exits (real llama-swap does not: the children of an upstream that exits on
its own keep running, which no client can observe). Each group is announced to the
double's :mod:`reaper`, which stops it should the double die without cleaning up
(SIGKILL); :func:`kill_all_now` is the last-resort cleanup used from ``atexit`` and
signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import time
import weakref
from collections.abc import Callable

import aiohttp

from . import reaper
from .config import ModelConfig
from .errors import LoadError, go_duration
from .logs import LogMonitor, ProxyLogger

STOPPED = "stopped"
STARTING = "starting"
READY = "ready"
STOPPING = "stopping"
SHUTDOWN = "shutdown"

HEALTH_POLL = 0.25
STARTUP_ABORT_GRACE = 5.0

_LIVE: weakref.WeakSet[Process] = weakref.WeakSet()

StateListener = Callable[[str, str, str], None]


def _exec_error(argv: list[str], err: OSError) -> str:
    """Phrase a spawn failure like Go's os/exec does."""
    prog = argv[0]
    if "/" not in prog and shutil.which(prog) is None:
        detail = f'exec: "{prog}": executable file not found in $PATH'
    else:
        reason = (err.strerror or str(err)).lower()
        detail = f"fork/exec {prog}: {reason}"
    return f"failed to start command '{' '.join(argv)}': {detail}"


async def _wait_for_exit(proc: asyncio.subprocess.Process) -> int:
    """Wait for the process itself to exit.

    ``Process.wait()`` also waits for the output pipe to close, which never happens
    while a grandchild holds it, so watch a pidfd (or poll) instead.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = -1
    if pidfd >= 0:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(pidfd, on_readable)
        try:
            await readable
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
    while proc.returncode is None:
        await asyncio.sleep(0.02)
    return proc.returncode


def kill_all_now() -> None:
    """Synchronously SIGKILL every live upstream process group (atexit / last resort)."""
    for proc in list(_LIVE):
        proc.kill_now()


class Process:
    """State machine stopped -> starting -> ready -> stopping -> stopped for one model."""

    def __init__(
        self,
        mc: ModelConfig,
        log: ProxyLogger,
        output: LogMonitor,
        on_state: StateListener,
    ) -> None:
        self.mc = mc
        self.id = mc.id
        self.log = log
        self.output = output
        self._on_state = on_state
        self.state = STOPPED
        self.inflight = 0
        self.last_use = 0.0
        self._proc: asyncio.subprocess.Process | None = None
        self._pgid: int | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._ttl_task: asyncio.Task[None] | None = None
        self._exited = asyncio.Event()
        _LIVE.add(self)

    # -- state -------------------------------------------------------------
    def _set_state(self, new: str) -> None:
        old, self.state = self.state, new
        if old != new:
            self.log.debug(f"<{self.id}> swapState() State transitioned from {old} to {new}")
            self._on_state(self.id, old, new)

    # -- start -------------------------------------------------------------
    async def ensure_ready(self) -> None:
        """Start the upstream unless ready; concurrent callers share one start."""
        while True:
            if self.state == READY:
                return
            if self.state == SHUTDOWN:
                raise LoadError(f"[{self.id}] shutdown")
            if self._stop_task is not None:
                await asyncio.shield(self._stop_task)
                continue
            if self._start_task is None:
                self._start_task = asyncio.get_running_loop().create_task(self._start())
            task = self._start_task
            await asyncio.shield(task)
            return

    async def _start(self) -> None:
        try:
            self._set_state(STARTING)
            await self._spawn_and_wait()
            self._set_state(READY)
            self.last_use = time.monotonic()
            if self.mc.ttl > 0:
                self._ttl_task = asyncio.get_running_loop().create_task(self._ttl_loop())
        except asyncio.CancelledError:
            await self._kill(STARTUP_ABORT_GRACE)
            if self.state != SHUTDOWN:
                self._set_state(STOPPED)
            raise LoadError("aborted") from None
        except LoadError:
            await self._kill(STARTUP_ABORT_GRACE)
            if self.state != SHUTDOWN:
                self._set_state(STOPPED)
            raise
        finally:
            self._start_task = None

    async def _spawn_and_wait(self) -> None:
        argv = self.mc.argv()
        env = dict(os.environ)
        for item in self.mc.env:
            key, _, value = item.partition("=")
            env[key] = value
        self.log.debug(f"<{self.id}> Executing start command: {' '.join(argv)}")
        self._exited = asyncio.Event()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as err:
            raise LoadError(_exec_error(argv, err)) from None
        reaper.register(proc.pid)
        self._proc = proc
        self._pgid = proc.pid
        loop = asyncio.get_running_loop()
        self._pump = loop.create_task(self._pump_output(proc))
        self._waiter = loop.create_task(self._wait_exit(proc))

        endpoint = self.mc.check_endpoint
        if endpoint.strip().lower() == "none":
            return
        await self._sleep_or_exit(0.25)
        timeout = self.mc.health_check_timeout
        deadline = time.monotonic() + timeout
        url = self.mc.proxy.rstrip("/") + "/" + endpoint.lstrip("/")
        client_timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            while True:
                if self._exited.is_set():
                    raise LoadError("upstream command exited prematurely")
                if time.monotonic() > deadline:
                    raise LoadError(f"health check timed out after {go_duration(timeout)}")
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            self.log.info(f"<{self.id}> Health check passed on {url}")
                            return
                await self._sleep_or_exit(HEALTH_POLL)

    async def _sleep_or_exit(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._exited.wait(), seconds)
        if self._exited.is_set():
            raise LoadError("upstream command exited prematurely")

    async def _pump_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(4096)
            if not chunk:
                return
            self.output.write(chunk)

    async def _wait_exit(self, proc: asyncio.subprocess.Process) -> None:
        code = await _wait_for_exit(proc)
        self._exited.set()
        self.log.debug(f"<{self.id}> process exited: code={code}")
        # The leader is gone: kill whatever it left in its group, then let the pgid go
        # (once empty it may be reused, so nothing may signal it after this).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        reaper.unregister(proc.pid)
        if self._pgid == proc.pid:
            self._pgid = None
        if self.state == READY and self._stop_task is None:
            self.log.warn(f"<{self.id}> upstream process exited unexpectedly")
            self._cancel_ttl()
            self._proc = None
            self._set_state(STOPPED)

    # -- stop --------------------------------------------------------------
    async def stop(self, grace: float) -> None:
        """Stop the upstream: SIGTERM (or cmdStop) to the group, SIGKILL after ``grace``."""
        if self._start_task is not None:
            self._start_task.cancel()
            with contextlib.suppress(LoadError, asyncio.CancelledError):
                await asyncio.shield(self._start_task)
            return
        if self._stop_task is not None:
            await asyncio.shield(self._stop_task)
            return
        if self.state in (STOPPED, SHUTDOWN):
            return
        self._stop_task = asyncio.get_running_loop().create_task(self._stop(grace))
        try:
            await asyncio.shield(self._stop_task)
        finally:
            pass

    async def _stop(self, grace: float) -> None:
        try:
            self._cancel_ttl()
            self._set_state(STOPPING)
            await self._kill(grace)
            self._set_state(STOPPED)
        finally:
            self._stop_task = None

    async def _kill(self, grace: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and not self._exited.is_set():
            self.log.debug(f"[{self.id}] sending stop signal with timeout {go_duration(grace)}")
            await self._send_stop_signal(proc.pid)
            try:
                await asyncio.wait_for(self._exited.wait(), grace)
            except asyncio.TimeoutError:
                self.log.debug(f"<{self.id}> graceful stop timed out, sending SIGKILL")
                self._killpg(signal.SIGKILL)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._exited.wait(), 5.0)
        self._killpg(signal.SIGKILL)
        self._proc = None

    async def _send_stop_signal(self, pid: int) -> None:
        if self.mc.cmd_stop.strip():
            argv = shlex.split(self.mc.cmd_stop.replace("${PID}", str(pid)))
            try:
                stopper = await asyncio.create_subprocess_exec(*argv)
                await stopper.wait()
                return
            except OSError as err:
                self.log.error(f"<{self.id}> stop command failed: {err}")
        self._killpg(signal.SIGTERM)

    def _killpg(self, sig: int) -> None:
        if self._pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, sig)

    def kill_now(self) -> None:
        """SIGKILL the whole process group right away (no await, safe in atexit)."""
        pgid = self._pgid
        self._killpg(signal.SIGKILL)
        if pgid is not None:
            reaper.unregister(pgid)

    async def shutdown(self, grace: float) -> None:
        """Stop for good; later loads fail."""
        await self.stop(grace)
        self._set_state(SHUTDOWN)

    # -- TTL ---------------------------------------------------------------
    def touch(self) -> None:
        """Record use for the TTL clock."""
        self.last_use = time.monotonic()

    def _cancel_ttl(self) -> None:
        task, self._ttl_task = self._ttl_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _ttl_loop(self) -> None:
        ttl = self.mc.ttl
        while self.state == READY:
            await asyncio.sleep(1.0)
            if self.state != READY or self.inflight > 0:
                continue
            if time.monotonic() - self.last_use > ttl:
                self.log.info(f"<{self.id}> Unloading model, TTL of {ttl}s reached")
                self._ttl_task = None
                await self.stop(self.mc.unload_timeout)
                return
