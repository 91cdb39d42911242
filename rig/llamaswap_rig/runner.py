"""Start llama-swap (real binary or the Python double) in front of the rig's upstreams.

``Rig`` is a context manager: it picks free loopback ports, writes a per-run config under
``RUN_DIR``, starts llama-swap, waits for ``/health``, and on exit stops it and proves that no
upstream process it started is still alive (leftovers are killed and reported as an error).

CLI for humans: ``python -m llamaswap_rig.runner [--api-key K]`` prints the DSN and waits
for Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from llamaswap_rig import build_llama_swap
from llamaswap_rig import config as rigconfig
from llamaswap_rig.build_llama_swap import SRC_ENV, source_from_env
from llamaswap_rig.install_llama_swap import is_installed
from llamaswap_rig.paths import BIN_DIR, DOUBLE_DIR, MODELS_DIR, RUN_DIR

DOUBLE_ARGV = [sys.executable, "-m", "llama_swap_double"]
KEEP_RUN_DIRS = 30
_PR_SET_PDEATHSIG = 1
_STARTED: weakref.WeakSet[Rig] = weakref.WeakSet()


class RigError(RuntimeError):
    """The rig could not start, or did not stop cleanly."""


class RigUnavailableError(RigError):
    """A prerequisite (binary, model file, launcher) is missing: skip locally, fail in CI."""


class RigLeftoverError(RigError):
    """Upstream processes survived llama-swap's shutdown (they have been killed)."""


@dataclass(frozen=True)
class Binary:
    flavour: str  # "real" | "double"
    argv: list[str]
    env: dict[str, str]
    source: str  # why this one was picked
    version: str = ""  # what the binary says of itself (``-version``), e.g. "250 (60226b6)"
    fake_model: str | None = None  # llama-swap's own cmd/fake-model, built beside it

    def describe(self) -> str:
        what = f"real llama-swap {self.version}" if self.flavour == "real" else "Python double"
        return f"{what} [{self.source}: {' '.join(self.argv)}]"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    start_ticks: int
    cmdline: str


_VERSIONS: dict[str, str] = {}


def binary_version(path: str) -> str:
    """``250 (60226b6)`` from ``llama-swap -version`` (``version: 250 (60226b6), built at ...``)."""
    if path not in _VERSIONS:
        try:
            out = subprocess.run(
                [path, "-version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            out = f"unknown ({exc})"
        _VERSIONS[path] = out.strip().removeprefix("version: ").split(", built")[0] or "unknown"
    return _VERSIONS[path]


def _real(path: Path, source: str, fake_model: str | None = None) -> Binary:
    return Binary("real", [str(path)], {}, source, binary_version(str(path)), fake_model)


def select_binary() -> Binary:
    """LLAMASWAP_BIN > ``go install`` (pinned commit) > built from LLAMASWAP_SRC > the double."""
    explicit = os.environ.get("LLAMASWAP_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RigUnavailableError(f"LLAMASWAP_BIN={explicit} is not an executable file")
        sibling = path.with_name("fake-model")
        return _real(path, "LLAMASWAP_BIN", str(sibling) if sibling.is_file() else None)
    installed = BIN_DIR / "llama-swap"
    if is_installed():
        fake = BIN_DIR / "fake-model"
        return _real(installed, "go install", str(fake) if is_installed("fake-model") else None)
    src = source_from_env()
    if src is not None:
        try:
            built = build_llama_swap.build(src)
        except (build_llama_swap.BuildError, OSError) as exc:
            raise RigUnavailableError(f"could not build llama-swap from {SRC_ENV}: {exc}") from exc
        return _real(Path(built.llama_swap), f"{SRC_ENV}={built.source}", built.fake_model)
    if not (DOUBLE_DIR / "llama_swap_double" / "__main__.py").is_file():
        raise RigUnavailableError(
            f"no llama-swap binary and no double at {DOUBLE_DIR / 'llama_swap_double'}"
        )
    pythonpath = os.pathsep.join(
        p for p in (str(DOUBLE_DIR), os.environ.get("PYTHONPATH", "")) if p
    )
    return Binary(
        "double", list(DOUBLE_ARGV), {"PYTHONPATH": pythonpath}, "Python double", "double-v250"
    )


# ---------------------------------------------------------------------------- /proc helpers


def _read_proc(pid: int) -> ProcInfo | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":  # zombie: already dead, just not reaped
        return None
    cmdline = raw.replace(b"\x00", b" ").decode(errors="replace").strip()
    return ProcInfo(pid, int(fields[1]), int(fields[19]), cmdline)


def _all_procs() -> dict[int, ProcInfo]:
    procs: dict[int, ProcInfo] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _read_proc(int(entry))
            if info is not None:
                procs[info.pid] = info
    return procs


def descendants(root: int, procs: dict[int, ProcInfo] | None = None) -> dict[int, ProcInfo]:
    procs = _all_procs() if procs is None else procs
    children: dict[int, list[int]] = {}
    for info in procs.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: dict[int, ProcInfo] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found[pid] = procs[pid]
            stack.extend(children.get(pid, []))
    return found


def _has_env(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\x00")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def find_run_processes(
    run_id: str, ports: Iterable[int] = (), known: dict[int, ProcInfo] | None = None
) -> dict[int, ProcInfo]:
    """Live processes that belong to a run: env marker, ``--port P`` on an upstream port, or
    a process seen as llama-swap's descendant that is still the same process (same start)."""
    needle = f"{rigconfig.RUN_ENV}={run_id}".encode()
    port_args = [f"--port {p}" for p in ports]
    me = os.getpid()
    found: dict[int, ProcInfo] = {}
    for pid, info in _all_procs().items():
        if pid == me:
            continue
        padded = info.cmdline + " "
        seen = known is not None and pid in known and known[pid].start_ticks == info.start_ticks
        if seen or _has_env(pid, needle) or any(f"{a} " in padded for a in port_args):
            found[pid] = info
    return found


# ---------------------------------------------------------------------------- ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int, low: int = 20000, high: int = 32000) -> int:
    """First port of ``size`` consecutive free loopback ports, below the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - size)
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise RigError(f"could not find {size} consecutive free ports in {low}..{high}")


# ---------------------------------------------------------------------------- the rig


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def _prune_run_dirs() -> None:
    """Keep RUN_DIR small: drop the oldest run dirs that are more than an hour old."""
    if not RUN_DIR.is_dir():
        return
    dirs = sorted((p for p in RUN_DIR.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    cutoff = time.time() - 3600
    for old in dirs[:-KEEP_RUN_DIRS]:
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


class Rig:
    """llama-swap plus upstreams for one test session, demo or benchmark."""

    def __init__(
        self,
        *,
        api_keys: list[str] | None = None,
        models: tuple[str, ...] = rigconfig.ALL_MODELS,
        name: str = "rig",
        startup_timeout: float = 30.0,
        stop_timeout: float = 45.0,
        check_files: bool = True,
        verbose: bool = True,
        leftover_grace: float = 5.0,
        **config_kwargs: Any,
    ) -> None:
        self.api_keys = list(api_keys or [])
        self.models = tuple(models)
        self.name = name
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.check_files = check_files
        self.verbose = verbose
        self.leftover_grace = leftover_grace
        self.config_kwargs = config_kwargs
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{uuid.uuid4().hex[:6]}"
        self.run_dir = RUN_DIR / self.run_id
        self.config_path = self.run_dir / "config.yaml"
        self.log_path = self.run_dir / "llama-swap.log"
        self.config: dict[str, Any] = {}
        self.port = 0
        self.start_port = 0
        self.upstream_ports: dict[str, int] = {}
        self.binary: Binary | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.leftovers: dict[int, ProcInfo] = {}
        self.startup_seconds = 0.0
        self._log_file: TextIO | None = None
        self._seen: dict[int, ProcInfo] = {}

    # -- public surface

    @property
    def flavour(self) -> str:
        return self.binary.flavour if self.binary else select_binary().flavour

    @property
    def api_key(self) -> str | None:
        return self.api_keys[0] if self.api_keys else None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        """The DSN with the key percent-encoded, so ``@ : /`` in a key still parse."""
        auth = f"{urllib.parse.quote(self.api_key, safe='')}@" if self.api_key else ""
        return f"llama-swap://{auth}127.0.0.1:{self.port}"

    @property
    def redacted_dsn(self) -> str:
        """The DSN for banners and logs: the key is never printed."""
        return f"llama-swap://***@127.0.0.1:{self.port}" if self.api_key else self.dsn

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def upstream_processes(self) -> dict[int, ProcInfo]:
        """Upstreams of this run alive right now (used by tests and by ``stop``)."""
        if self.proc is not None and self.proc.poll() is None:
            self._remember(descendants(self.proc.pid))
        return find_run_processes(self.run_id, self.upstream_ports.values(), self._seen)

    # -- lifecycle

    def _say(self, msg: str) -> None:
        if self.verbose:
            print(f"[llamaswap-rig] {msg}", file=sys.stderr, flush=True)

    def _check_prerequisites(self) -> None:
        if not self.check_files:
            return
        needs_llamacpp = any(m in self.models for m in ("qwen", "qwen-b", "embed"))
        if not needs_llamacpp:
            return
        models_dir = self.config_kwargs.get("models_dir", MODELS_DIR)
        missing = [p for p in rigconfig.required_files(models_dir) if not p.exists()]
        if missing:
            raise RigUnavailableError(
                "rig prerequisites missing: "
                + ", ".join(str(p) for p in missing)
                + " (run: .venv/bin/python rig/llamaswap_rig/install.py)"
            )

    def start(self) -> Rig:
        if self.proc is not None:
            raise RigError("rig already started")
        self.binary = select_binary()
        self._check_prerequisites()
        _prune_run_dirs()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ported = [m for m in self.models if m in rigconfig.PORTED_MODELS]
        base = free_port_block(len(ported) + 1)
        self.start_port, self.port = base, base + len(ported)
        self.upstream_ports = rigconfig.upstream_ports(base, tuple(ported))
        self.config = rigconfig.build_config(
            start_port=base,
            api_keys=self.api_keys or None,
            run_id=self.run_id,
            models=self.models,
            fake_model_bin=self.binary.fake_model,
            **self.config_kwargs,
        )
        rigconfig.write_config(self.config_path, self.config)
        self._spawn("w")
        return self

    def restart(self) -> Rig:
        """Stop llama-swap (and its upstreams) and start it again on the same port and config.

        For tests of clients that must survive a llama-swap restart (stale pooled
        connections); the log keeps both runs.
        """
        if self.proc is None:
            raise RigError("rig not started")
        self.stop()
        self._spawn("a")
        return self

    def _spawn(self, log_mode: str) -> None:
        assert self.binary is not None
        argv = [
            *self.binary.argv,
            "-config",
            str(self.config_path),
            "-listen",
            f"127.0.0.1:{self.port}",
        ]
        env = dict(os.environ, **self.binary.env)
        env.pop(rigconfig.RUN_ENV, None)
        self._say(f"{self.binary.describe()}; listening on {self.base_url}; run dir {self.run_dir}")
        self._log_file = self.log_path.open("a" if log_mode == "a" else "w")
        started = time.monotonic()
        on_main = threading.current_thread() is threading.main_thread()
        _install_sigterm_cleanup()
        self.proc = subprocess.Popen(
            argv,
            # the parent-death signal follows the thread that forks: only tie it to the main one
            preexec_fn=_die_with_parent if on_main and sys.platform == "linux" else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.run_dir,
            start_new_session=True,
        )
        _STARTED.add(self)
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop(check_leftovers=False)
            raise
        self.startup_seconds = time.monotonic() - started
        self._say(f"llama-swap healthy after {self.startup_seconds:.2f} s; DSN {self.redacted_dsn}")

    def _wait_healthy(self, started: float) -> None:
        assert self.proc is not None
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RigError(
                    f"llama-swap exited with code {self.proc.returncode} before /health "
                    f"answered; log tail ({self.log_path}):\n{self.log_tail()}"
                )
            if _http_status(f"{self.base_url}/health", timeout=1.0) == 200:
                return
            time.sleep(0.1)
        raise RigError(
            f"llama-swap /health did not answer 200 within {self.startup_timeout:.0f} s; "
            f"log tail ({self.log_path}):\n{self.log_tail()}"
        )

    def _remember(self, procs: dict[int, ProcInfo]) -> None:
        self._seen.update(procs)

    def stop(self, check_leftovers: bool = True) -> None:
        """SIGTERM llama-swap, wait, then kill and report any upstream that survived."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            self._remember(descendants(proc.pid))
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._say(f"llama-swap ignored SIGTERM for {self.stop_timeout:.0f} s; SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        # An upstream that got SIGTERM may need a moment after llama-swap itself is gone.
        deadline = time.monotonic() + self.leftover_grace
        alive = self.upstream_processes()
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = self.upstream_processes()
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.leftovers = alive
        self.proc = None
        _STARTED.discard(self)
        if alive:
            listing = "\n".join(f"  pid {i.pid}: {i.cmdline}" for i in alive.values())
            msg = f"{len(alive)} upstream process(es) survived llama-swap's shutdown:\n{listing}"
            self._say(msg + " (killed)")
            if check_leftovers:
                raise RigLeftoverError(msg)
        else:
            self._say(f"stopped cleanly; no upstream left (log: {self.log_path})")

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leftovers are an error of their own, but never mask the body's exception.
        self.stop(check_leftovers=exc_type is None)


@atexit.register
def _stop_forgotten_rigs() -> None:
    """A crashed or interrupted session must not leave llama-swap and its models running."""
    for rig in list(_STARTED):
        with contextlib.suppress(Exception):
            rig.stop(check_leftovers=False)


def _install_sigterm_cleanup() -> None:
    """SIGTERM (a CI timeout, ``kill``, make forwarding it) skips ``atexit``: stop every rig
    first, then let the signal do what it did before (its old handler, or the default death)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if getattr(previous, "_llamaswap_rig", False):
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _stop_forgotten_rigs()
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    on_sigterm._llamaswap_rig = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, on_sigterm)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM llama-swap if the process that started it dies
    without stopping it (SIGKILL), so llama-swap still stops its upstreams."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llamaswap_rig.runner",
        description="Start the llama-swap rig, print its DSN, wait for Ctrl-C.",
    )
    parser.add_argument("--api-key", action="append", default=[], help="repeatable")
    parser.add_argument(
        "--models",
        default=",".join(rigconfig.ALL_MODELS),
        help="comma-separated subset of " + ",".join(rigconfig.ALL_MODELS),
    )
    parser.add_argument("--groups", action="store_true", help="keep aux models resident")
    parser.add_argument("--image-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    rig = Rig(
        api_keys=args.api_key, models=models, groups=args.groups, image_delay=args.image_delay
    )

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        rig.start()
    except RigError as exc:
        print(f"rig failed to start: {exc}", file=sys.stderr)
        return 1
    assert rig.binary is not None
    print(f"llama-swap: {rig.binary.describe()}")
    hint = "  (*** is the --api-key you gave)" if args.api_key else ""
    print(f"DSN:      {rig.redacted_dsn}{hint}")
    print(f"base URL: {rig.base_url}")
    print(f"config:   {rig.config_path}")
    print(f"log:      {rig.log_path}")
    print("Ctrl-C to stop", flush=True)
    try:
        while rig.running:
            time.sleep(0.5)
        print(f"llama-swap exited on its own; log tail:\n{rig.log_tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    try:
        rig.stop()
    except RigLeftoverError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
