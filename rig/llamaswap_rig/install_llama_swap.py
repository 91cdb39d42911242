"""Install the pinned llama-swap binary with ``go install``, or explain why the double is used.

The Go module proxy currently refuses this module version (403), so the usual outcome is a
logged failure and the rig running the Python double. The attempt stays because a developer or
a later machine whose proxy serves the module gets the real binary with no code change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python rig/llamaswap_rig/install_llama_swap.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llamaswap_rig.paths import BIN_DIR, LOGS_DIR

MODULE = "github.com/mostlygeek/llama-swap"
COMMIT = "60226b63776efac11e15828abe0bb302ec259699"
VERSION = "v250"
BUILD_DATE = "2026-08-14T00:00:00Z"
GO_TIMEOUT_S = 120.0

_attempted: dict[str, InstallResult] = {}


@dataclass(frozen=True)
class InstallResult:
    name: str
    ok: bool
    path: Path
    message: str


def _marker(binary: Path) -> Path:
    return binary.with_name(binary.name + ".commit")


def is_installed(name: str = "llama-swap", commit: str = COMMIT) -> bool:
    binary = BIN_DIR / name
    marker = _marker(binary)
    return (
        binary.is_file()
        and os.access(binary, os.X_OK)
        and marker.is_file()
        and marker.read_text().strip() == commit
    )


def _summary(output: str, rc: int) -> str:
    """One short line from go's error output (the full text is in the log)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if not lines:
        return f"go install exit code {rc}"
    reason = lines[0].rsplit(": ", 1)[-1]
    server = next((ln for ln in lines if ln.startswith("server response:")), "")
    return f"go install failed: {reason}" + (f" ({server})" if server else "")


def _go_install(package: str, name: str, commit: str, timeout: float) -> InstallResult:
    """One bounded ``go install``; the binary is built in a temp GOBIN and moved into BIN_DIR."""
    binary = BIN_DIR / name
    log_path = LOGS_DIR / f"{name}-install.log"
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    go = shutil.which("go")
    if go is None:
        msg = "go toolchain not found on PATH"
        log_path.write_text(msg + "\n")
        return InstallResult(name, False, binary, msg)
    ldflags = f"-X main.version={VERSION} -X main.commit={commit[:7]} -X main.date={BUILD_DATE}"
    with tempfile.TemporaryDirectory(prefix=f"gobin-{name}-") as tmp:
        env = dict(os.environ, GOBIN=tmp, GOTOOLCHAIN="local", CGO_ENABLED="0")
        cmd = [go, "install", "-ldflags", ldflags, f"{package}@{commit}"]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
            output, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or b""
            err = exc.stderr or b""
            text = (out if isinstance(out, str) else out.decode(errors="replace")) + (
                err if isinstance(err, str) else err.decode(errors="replace")
            )
            output, rc = text + f"\n(timed out after {timeout:.0f} s)", -1
        elapsed = time.monotonic() - started
        log_path.write_text(
            f"$ GOBIN=<tmp> GOTOOLCHAIN=local CGO_ENABLED=0 {' '.join(cmd)}\n"
            f"exit code: {rc}, {elapsed:.1f} s\n\n{output}"
        )
        built = Path(tmp) / name
        if rc != 0 or not built.is_file():
            return InstallResult(name, False, binary, _summary(output, rc))
        BIN_DIR.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), binary)
    binary.chmod(0o755)
    _marker(binary).write_text(commit + "\n")
    return InstallResult(name, True, binary, f"built in {elapsed:.0f} s")


def install_binary(
    package: str, name: str, commit: str = COMMIT, timeout: float = GO_TIMEOUT_S
) -> InstallResult:
    """Idempotent and tried at most once per process (a refused proxy will not change its mind)."""
    binary = BIN_DIR / name
    if is_installed(name, commit):
        return InstallResult(name, True, binary, "already installed")
    if name not in _attempted:
        _attempted[name] = _go_install(package, name, commit, timeout)
    return _attempted[name]


def install_llama_swap(timeout: float = GO_TIMEOUT_S) -> InstallResult:
    return install_binary(MODULE, "llama-swap", COMMIT, timeout)


def install_fake_model(timeout: float = GO_TIMEOUT_S) -> InstallResult:
    return install_binary(f"{MODULE}/cmd/fake-model", "fake-model", COMMIT, timeout)


def describe(result: InstallResult, fallback: str) -> str:
    if result.ok:
        return f"{result.name}: ok ({result.message}) -> {result.path}"
    log = LOGS_DIR / f"{result.name}-install.log"
    return f"{result.name}: not installed ({result.message}); {fallback} [log: {log}]"


def main() -> int:
    print(describe(install_llama_swap(), "the rig will use the Python double of llama-swap"))
    print(describe(install_fake_model(), "the rig will use upstreams/fast.py instead"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
