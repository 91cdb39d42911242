"""Run llama.cpp's own HTTP server (through the ``xllamacpp`` wheel) as a llama-swap upstream.

llama-swap starts this file as a model ``cmd``::

    <venv python> <abs path>/llamacpp.py --port ${PORT} --model <gguf> [options]

It serves llama.cpp's endpoints (``/health``, ``/v1/chat/completions``, ``/v1/embeddings``,
``/completion``, ``/tokenize``, ``/metrics``, ...) on ``127.0.0.1:PORT`` and stops within a
fraction of a second on SIGTERM/SIGINT/SIGHUP. xllamacpp lives in the rig's own library folder
(``.rig/pylib``), not in the package venv, so this script puts that folder on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import faulthandler
import importlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

_RIG_DIR = Path(__file__).resolve().parents[2]  # .../rig, holds the llamaswap_rig package

POOLING = {"none": 0, "mean": 1, "cls": 2, "last": 3, "rank": 4}
SHUTDOWN_GRACE_S = 3.0  # hard exit if llama.cpp's destructor has not returned by then


def default_pylib() -> Path:
    """The rig's library folder, from ``llamaswap_rig.paths`` (honours LLAMASWAP_RIG_HOME)."""
    if str(_RIG_DIR) not in sys.path:
        sys.path.append(str(_RIG_DIR))
    from llamaswap_rig.paths import PYLIB_DIR

    return PYLIB_DIR


def load_xllamacpp(pylib: Path) -> ModuleType:
    """Import xllamacpp from ``pylib`` with a hint to run the installer when it is missing."""
    if str(pylib) not in sys.path:
        sys.path.insert(0, str(pylib))
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise SystemExit(
            f"llamacpp upstream: cannot import xllamacpp from {pylib} ({exc}); "
            "run `python rig/llamaswap_rig/install_models.py` first"
        ) from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--model", "-m", type=Path, required=True, help="GGUF file")
    p.add_argument(
        "--alias",
        "-a",
        action="append",
        default=[],
        help="model name reported by /v1/models and in responses (repeatable)",
    )
    p.add_argument(
        "--ctx-size",
        "-c",
        type=int,
        default=4096,
        help="KV cache tokens shared by all slots; 0 = model's own (default 4096)",
    )
    p.add_argument("--parallel", "-np", type=int, default=2, help="parallel slots (default 2)")
    p.add_argument("--threads", "-t", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--batch-size", "-b", type=int, default=512, help="logical batch (default 512)")
    p.add_argument(
        "--ubatch-size",
        "-ub",
        type=int,
        default=512,
        help="physical batch; an embedding input must fit in it (default 512)",
    )
    p.add_argument(
        "--n-predict",
        "-n",
        type=int,
        default=512,
        help="cap on generated tokens when a request sets no max_tokens "
        "(default 512; -1 = unlimited)",
    )
    p.add_argument(
        "--embedding",
        "--embeddings",
        action="store_true",
        help="serve embeddings only (/v1/embeddings); chat endpoints are refused",
    )
    p.add_argument(
        "--pooling",
        choices=sorted(POOLING),
        default=None,
        help="embedding pooling; default: what the GGUF says",
    )
    p.add_argument(
        "--no-jinja",
        action="store_true",
        help="disable the Jinja chat template engine (it is needed for tool calls)",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up decode at load")
    p.add_argument(
        "--verbosity",
        "-lv",
        type=int,
        default=3,
        help="llama.cpp log verbosity, 0 = errors only ... 4 = debug (default 3)",
    )
    p.add_argument(
        "--pylib",
        type=Path,
        default=None,
        help="folder holding xllamacpp (default: the rig's .rig/pylib)",
    )
    p.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="Linux: get SIGTERM when the parent dies (PR_SET_PDEATHSIG)",
    )
    return p.parse_args(argv)


def _set_optional(params: Any, name: str, value: object) -> None:
    """Set a field that only some xllamacpp versions have."""
    if hasattr(params, name):
        setattr(params, name, value)


def build_params(xlc: ModuleType, args: argparse.Namespace) -> Any:
    """Translate the CLI into xllamacpp's ``CommonParams`` (llama-server's ``common_params``)."""
    params = xlc.CommonParams()
    params.model.path = str(args.model)
    if hasattr(params, "hostnames"):
        params.hostnames = [args.host]
    else:  # older xllamacpp builds
        params.hostname = args.host
    params.port = args.port
    params.n_ctx = args.ctx_size
    params.n_parallel = args.parallel
    # One shared KV pool: any single request may use the whole context, as llama-server's
    # auto mode does.
    _set_optional(params, "kv_unified", True)
    params.n_batch = args.batch_size
    params.n_ubatch = args.ubatch_size
    params.n_predict = args.n_predict
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = not args.no_jinja
    params.warmup = not args.no_warmup
    params.verbosity = args.verbosity
    params.endpoint_metrics = True
    _set_optional(params, "endpoint_props", True)
    _set_optional(params, "endpoint_slots", True)
    _set_optional(params, "ui", False)
    if args.alias:
        params.model_alias = set(args.alias)
    if args.embedding:
        params.embedding = True
    if args.pooling is not None:
        params.pooling_type = xlc.llama_pooling_type(POOLING[args.pooling])
    return params


def set_parent_death_signal() -> None:
    """Ask Linux to send SIGTERM when the parent exits, so no orphan holds the port."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def log(msg: str) -> None:
    print(f"llamacpp upstream: {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.exit_with_parent:
        set_parent_death_signal()
    if not args.model.is_file():
        log(f"model file not found: {args.model}")
        return 2
    xlc = load_xllamacpp(args.pylib or default_pylib())
    params = build_params(xlc, args)

    stop = threading.Event()
    loaded = threading.Event()
    box: dict[str, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        if not loaded.is_set():
            # Still loading: llama.cpp holds nothing worth a clean shutdown yet.
            log(f"signal {signum} during load, exiting")
            os._exit(0)
        if not stop.is_set():
            log(f"signal {signum}, stopping")
        stop.set()

    def take_signals() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

    take_signals()

    def load() -> None:
        try:
            box["server"] = xlc.Server(params)
        except BaseException as exc:  # reported by the main thread
            box["error"] = exc
        finally:
            loaded.set()

    t0 = time.monotonic()
    # Load off the main thread so the main thread can still react to signals meanwhile.
    threading.Thread(target=load, name="llamacpp-load", daemon=True).start()
    while not loaded.wait(0.2):
        pass
    if "error" in box:
        log(f"failed to start: {box['error']!r}")
        return 1
    server = box["server"]
    # Some xllamacpp builds install llama-server's own SIGINT/SIGTERM handlers while loading;
    # take the signals back so shutdown always goes through ``del server`` below.
    take_signals()
    log(
        f"ready at {server.listening_address} in {time.monotonic() - t0:.2f}s "
        f"(model {args.model.name}, pid {os.getpid()})"
    )

    while not stop.wait(0.1):
        pass

    t1 = time.monotonic()
    # faulthandler's watchdog runs in C without the GIL, so it fires even when llama.cpp's
    # destructor blocks while holding the GIL (seen with xllamacpp 2026.6.9538).
    faulthandler.dump_traceback_later(SHUTDOWN_GRACE_S, exit=True)
    del server
    box.clear()
    log(f"stopped in {time.monotonic() - t1:.2f}s")
    # Skip interpreter teardown: llama.cpp is down and nothing else needs finalising, so the
    # parent (llama-swap) sees the exit right away.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
