"""The rig's llama-swap source build: cache key, version stamp, fake-model choice (no Go run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamaswap_rig import build_llama_swap as b
from llamaswap_rig.config import build_config


def _checkout(root: Path, name: str) -> Path:
    src = root / name
    (src / "cmd" / "fake-model").mkdir(parents=True)
    (src / "go.mod").write_text("module github.com/mostlygeek/llama-swap\n")
    (src / "go.sum").write_text("")
    (src / "llama-swap.go").write_text("package main\n")
    (src / "cmd" / "fake-model" / "main.go").write_text("package main\n")
    (src / "README.md").write_text("not part of the build\n")
    return src


def test_content_key_follows_go_sources_only(tmp_path: Path) -> None:
    src = _checkout(tmp_path, "v250")
    key = b.content_key(src)
    (src / "README.md").write_text("edited prose does not rebuild\n")
    assert b.content_key(src) == key
    (src / "cmd" / "fake-model" / "main.go").write_text("package main\n// edited\n")
    assert b.content_key(src) != key


def test_content_key_rejects_a_folder_without_go_mod(tmp_path: Path) -> None:
    with pytest.raises(b.BuildError, match=r"no go\.mod"):
        b.content_key(tmp_path)


def test_version_and_commit_from_the_snapshot_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMASWAP_SRC_VERSION", raising=False)
    monkeypatch.delenv("LLAMASWAP_SRC_COMMIT", raising=False)
    v250 = _checkout(tmp_path, "v250")
    main = _checkout(tmp_path, "main-0bdb372")
    (tmp_path / "README.md").write_text(
        "| folder | commit | what |\n|---|---|---|\n"
        "| `v250/` | `60226b63776efac11e15828abe0bb302ec259699` (2026-08-14) | release |\n"
    )
    assert b.describe_source(v250) == ("250", "60226b6", "2026-08-14")
    version, commit, _ = b.describe_source(main)
    assert (version, commit) == ("main-0bdb372", "0bdb372")


def test_env_overrides_the_version_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASWAP_SRC_VERSION", "251")
    monkeypatch.setenv("LLAMASWAP_SRC_COMMIT", "abcdef0123456789")
    version, commit, _ = b.describe_source(_checkout(tmp_path, "mine"))
    assert (version, commit) == ("251", "abcdef0")


def test_fake_model_is_llama_swaps_own_when_built(tmp_path: Path) -> None:
    built = build_config(start_port=30000, fake_model_bin=str(tmp_path / "fake-model"))
    assert built["models"]["fake-model"]["cmd"].startswith(str(tmp_path / "fake-model"))
    assert "-listen 127.0.0.1:${PORT}" in built["models"]["fake-model"]["cmd"]
    stand_in = build_config(start_port=30000)
    assert "fast.py" in stand_in["models"]["fake-model"]["cmd"]
    for cfg in (built, stand_in):  # the fault hooks live on their own id either way
        assert "fast.py" in cfg["models"]["faulty"]["cmd"]
