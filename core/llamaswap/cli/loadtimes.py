"""How long earlier loads of a model took, kept in the user's cache directory.

``llamaswap load`` estimates the time left from the last few cold loads of the same model
on the same llama-swap. The file is a cache: unreadable or broken, it is ignored and
rewritten; a failure to write it never fails a load.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ENV_CACHE_DIR = "LLAMASWAP_CACHE_DIR"
FILE_NAME = "load-times.json"
KEEP = 5  # loads remembered per model


def cache_dir() -> Path:
    r"""``$LLAMASWAP_CACHE_DIR``, else the platform's user cache directory + ``llamaswap``.

    Linux and other Unixes: ``$XDG_CACHE_HOME/llamaswap`` (default ``~/.cache/llamaswap``);
    macOS: ``~/Library/Caches/llamaswap``; Windows: ``%LOCALAPPDATA%\llamaswap\Cache``.
    """
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "llamaswap" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llamaswap"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base_dir / "llamaswap"


class LoadTimes:
    """Durations of earlier cold loads, per llama-swap address and model id."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else cache_dir() / FILE_NAME

    def _read(self) -> dict[str, dict[str, list[float]]]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        loads = data.get("loads") if isinstance(data, dict) else None
        if not isinstance(loads, dict):
            return {}
        clean: dict[str, dict[str, list[float]]] = {}
        for server, models in loads.items():
            if not isinstance(models, dict):
                continue
            for model, seconds in models.items():
                if isinstance(seconds, list):
                    kept = [float(s) for s in seconds if _is_duration(s)]
                    if kept:
                        clean.setdefault(str(server), {})[str(model)] = kept[-KEEP:]
        return clean

    def estimate(self, server: str, model: str) -> float | None:
        """The median of the remembered loads, or ``None`` when there are none."""
        seconds = self._read().get(server, {}).get(model)
        return statistics.median(seconds) if seconds else None

    def record(self, server: str, model: str, seconds: float) -> bool:
        """Remember one cold load; returns False when the cache could not be written."""
        if not _is_duration(seconds):
            return False
        loads = self._read()
        kept = loads.setdefault(server, {}).setdefault(model, [])
        kept.append(round(float(seconds), 3))
        del kept[:-KEEP]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".load-times-")
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": 1, "loads": loads}, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)  # readers never see half a file
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return False
        return True


def _is_duration(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < 7 * 24 * 3600
    )
