"""The wheel ships the three import packages and the LlamaIndex shims, never a `core` package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("llamaswap-*.whl")
    return built


def test_wheel_layout(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {
        "llamaswap",
        "langchain_llamaswap",
        "llama_index_llamaswap",
        "llama_index",
        "llamaswap-0.1.0.dist-info",
    }
    assert not any(n.startswith("core/") for n in names)
    for pkg in ("llamaswap", "langchain_llamaswap", "llama_index_llamaswap"):
        assert f"{pkg}/py.typed" in names
    # llama_index stays a namespace package: only our leaf modules, no __init__ above;
    # each is typed, so mypy sees the classes through the README's import paths.
    assert sorted(n for n in names if n.startswith("llama_index/")) == [
        "llama_index/embeddings/llamaswap/__init__.py",
        "llama_index/embeddings/llamaswap/py.typed",
        "llama_index/llms/llamaswap/__init__.py",
        "llama_index/llms/llamaswap/py.typed",
        "llama_index/postprocessor/llamaswap/__init__.py",
        "llama_index/postprocessor/llamaswap/py.typed",
        "llama_index/readers/llamaswap/__init__.py",
        "llama_index/readers/llamaswap/py.typed",
        "llama_index/tools/llamaswap/__init__.py",
        "llama_index/tools/llamaswap/py.typed",
    ]


SHIMS = (
    "llama_index.llms.llamaswap",
    "llama_index.embeddings.llamaswap",
    "llama_index.tools.llamaswap",
    "llama_index.postprocessor.llamaswap",
    "llama_index.readers.llamaswap",
)


def test_installed_without_the_llama_index_extra(wheel: Path, tmp_path: Path) -> None:
    """One distribution with extras (design card): without ``[llama-index]`` the shims are
    installed but only as PEP 420 portions, so a later llama-index install is not shadowed,
    and importing one says which extra to install.

    A clean venv (not ``--system-site-packages``) with the wheel and httpx/anyio only.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, capture_output=True)
    deps = subprocess.run([*pip, "httpx>=0.27,<1", "anyio>=4,<5"], capture_output=True, text=True)
    assert deps.returncode == 0, (
        f"could not install httpx/anyio (network or pip cache): {deps.stderr}"
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    assert not (site / "llama_index" / "__init__.py").exists()
    for sub in ("llms", "embeddings", "tools"):
        assert not (site / "llama_index" / sub / "__init__.py").exists()
        assert (site / "llama_index" / sub / "llamaswap" / "__init__.py").exists()

    # A later llama-index install (a stand-in portion on the path) merges with ours.
    later = tmp_path / "later"
    (later / "llama_index" / "core").mkdir(parents=True)
    (later / "llama_index" / "core" / "__init__.py").write_text("LATER = True\n")
    env = {**os.environ, "PYTHONPATH": str(later)}
    env.pop("PYTHONHOME", None)
    code = (
        "import llamaswap, llama_index.core\n"
        "assert llama_index.core.LATER and llama_index.__file__ is None\n"
        f"for name in {SHIMS!r}:\n"
        "    try:\n        __import__(name)\n"
        "    except ImportError as exc:\n        print(name, '->', exc)\n"
        "    else:\n        print(name, 'imported')\n"
    )
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(SHIMS)
    for line in lines:
        assert "pip install 'llamaswap[llama-index]'" in line, line
