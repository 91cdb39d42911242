"""Build llama-swap (and its ``cmd/fake-model``) from a source folder named by ``LLAMASWAP_SRC``.

The Go module proxy refuses ``go install`` of llama-swap but serves every dependency, so a
plain ``go build`` of a checkout works. Any llama-swap checkout will do (a user's own clone, or
the unmodified snapshots in ``shared/third_party/llama-swap/``). Builds are cached under
``.rig/build/<content key>/``: the key hashes every file ``go build`` reads (``*.go``,
``go.mod``, ``go.sum``), so a warm run with an unchanged source skips the build, and an edited
source builds again. The version, commit and date are stamped with ``-ldflags`` so that
``/api/version`` and ``-version`` report them.

Where the version and commit come from, first found wins: ``LLAMASWAP_SRC_VERSION`` /
``LLAMASWAP_SRC_COMMIT``; the checkout's git metadata; a ``README.md`` in the parent folder with
a table row naming the folder and its 40-hex commit (the layout of ``third_party/llama-swap``);
the folder's name (``v250`` -> version 250, ``main-0bdb372`` -> commit 0bdb372).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python rig/llamaswap_rig/build_llama_swap.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llamaswap_rig.paths import BUILD_DIR, LOGS_DIR

SRC_ENV = "LLAMASWAP_SRC"
BUILD_TIMEOUT_S = 900.0
_SOURCE_SUFFIXES = (".go",)
_SOURCE_NAMES = ("go.mod", "go.sum")
_SKIP_DIRS = {".git", "node_modules", "ui", "ui-svelte", "docs", "examples"}


class BuildError(RuntimeError):
    """``go build`` of a llama-swap source folder failed (the log path is in the message)."""


@dataclass(frozen=True)
class SourceBuild:
    """A llama-swap binary built from source, with what it was built from."""

    source: str
    key: str
    version: str
    commit: str
    date: str
    llama_swap: str
    fake_model: str | None
    seconds: float

    @property
    def label(self) -> str:
        return f"llama-swap {self.version} ({self.commit}) built from {self.source}"


def _source_files(src: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(_SOURCE_SUFFIXES) or name in _SOURCE_NAMES:
                files.append(Path(root) / name)
    return files


def content_key(src: Path) -> str:
    """Hash of every file the Go build reads, by relative path and bytes."""
    digest = hashlib.sha256()
    files = _source_files(src)
    if not any(f.name == "go.mod" and f.parent == src for f in files):
        raise BuildError(f"{SRC_ENV}={src} is not a llama-swap source folder (no go.mod in it)")
    for path in files:
        digest.update(str(path.relative_to(src)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def _git(src: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None or not (src / ".git").exists():
        return None
    proc = subprocess.run(
        [git, "-C", str(src), *args], capture_output=True, text=True, check=False, timeout=30
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _readme_row(src: Path) -> tuple[str, str]:
    """(commit, date) from the parent README's table row for this folder, or empty strings."""
    readme = src.parent / "README.md"
    if not readme.is_file():
        return "", ""
    for line in readme.read_text(errors="replace").splitlines():
        if f"`{src.name}/`" in line or f"`{src.name}`" in line:
            commit = re.search(r"\b([0-9a-f]{40})\b", line)
            date = re.search(r"\((\d{4}-\d\d-\d\d)\)", line)
            if commit:
                return commit.group(1), date.group(1) if date else ""
    return "", ""


def describe_source(src: Path) -> tuple[str, str, str]:
    """(version, short commit, date) for the ldflags; see the module docstring for the order."""
    version = os.environ.get("LLAMASWAP_SRC_VERSION", "")
    commit = os.environ.get("LLAMASWAP_SRC_COMMIT", "")
    readme_commit, readme_date = _readme_row(src)
    if not commit:
        commit = _git(src, "rev-parse", "HEAD") or readme_commit
        if not commit:
            match = re.search(r"([0-9a-f]{7,40})$", src.name)
            commit = match.group(1) if match else ""
    if not version:
        described = _git(src, "describe", "--tags", "--always")
        if described:
            version = described.lstrip("v")
        else:
            match = re.fullmatch(r"v?(\d+)", src.name)
            version = match.group(1) if match else src.name
    date = _git(src, "log", "-1", "--format=%cI") or readme_date or time.strftime("%Y-%m-%d")
    return version, (commit[:7] or "unknown"), date


def _run_go(args: list[str], src: Path, log: Path, timeout: float) -> None:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the go toolchain is not on PATH (install Go to build llama-swap)")
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [go, *args],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        output, rc = f"(timed out after {timeout:.0f} s)", -1
    with log.open("a") as fh:
        elapsed = time.monotonic() - started
        fh.write(f"$ (cd {src}) go {' '.join(args)}\nexit {rc}, {elapsed:.1f} s\n")
        fh.write(output + "\n")
    if rc != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise BuildError(f"go {args[0]} failed in {src} (exit {rc}; log {log}):\n{tail}")


def cached_build(src: Path) -> SourceBuild | None:
    """The cached build of ``src`` if one exists for its current content, else None."""
    manifest = BUILD_DIR / content_key(src) / "build.json"
    if not manifest.is_file():
        return None
    build = SourceBuild(**json.loads(manifest.read_text()))
    return build if Path(build.llama_swap).is_file() else None


def build(src: Path, *, timeout: float = BUILD_TIMEOUT_S) -> SourceBuild:
    """Build ``src`` once per content key; concurrent callers wait on one lock."""
    src = src.resolve()
    key = content_key(src)
    out = BUILD_DIR / key
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = cached_build(src)
        if cached is not None:
            return cached
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        log = LOGS_DIR / f"llama-swap-build-{key}.log"
        log.write_text("")
        version, commit, date = describe_source(src)
        ldflags = f"-X main.version={version} -X main.commit={commit} -X main.date={date}"
        started = time.monotonic()
        tmp = out / "tmp"
        tmp.mkdir(exist_ok=True)
        main_args = ["build", "-ldflags", ldflags, "-o", str(tmp / "llama-swap"), "."]
        _run_go(main_args, src, log, timeout)
        fake_model: str | None = None
        if (src / "cmd" / "fake-model").is_dir():
            _run_go(["build", "-o", str(tmp / "fake-model"), "./cmd/fake-model"], src, log, timeout)
            os.replace(tmp / "fake-model", out / "fake-model")
            fake_model = str(out / "fake-model")
        os.replace(tmp / "llama-swap", out / "llama-swap")
        shutil.rmtree(tmp, ignore_errors=True)
        result = SourceBuild(
            source=str(src),
            key=key,
            version=version,
            commit=commit,
            date=date,
            llama_swap=str(out / "llama-swap"),
            fake_model=fake_model,
            seconds=round(time.monotonic() - started, 1),
        )
        (out / "build.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
        return result


def source_from_env() -> Path | None:
    value = os.environ.get(SRC_ENV, "").strip()
    return Path(value).expanduser() if value else None


def main(argv: list[str] | None = None) -> int:
    """Build (or find cached) ``$LLAMASWAP_SRC``; ``--path`` prints only the binary's path."""
    only_path = "--path" in (sys.argv[1:] if argv is None else argv)
    src = source_from_env()
    if src is None:
        print(f"llama-swap from source: {SRC_ENV} is not set; nothing to build")
        return 0
    try:
        cached = cached_build(src)
        result = cached or build(src)
    except BuildError as exc:
        print(f"llama-swap from source: FAILED: {exc}", file=sys.stderr)
        return 1
    if only_path:
        print(result.llama_swap)
        return 0
    how = "cached" if cached else f"built in {result.seconds:.0f} s"
    print(f"llama-swap from source: ok ({how}): {result.label} -> {result.llama_swap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
