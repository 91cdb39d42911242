"""``GET /api/hardware``'s snapshot, detected once at startup like v250's ``internal/hw``.

Linux only (the rig's platform), from ``/proc`` and ``/etc/os-release``; GPUs are not
probed (no ``nvidia-smi``/sysfs walk), so ``accelerators`` is empty as on a CPU-only host.
On other systems, or when memory cannot be read, there is no snapshot and the route
answers 503 ``hardware detection unavailable`` as the binary does when detection fails.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Go's runtime.GOARCH for the machine names Python reports, then v250's normalizeArchitecture.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_ARCH_NAME = {"amd64": ("x86_64", "amd64"), "arm64": ("arm64", None)}


def detect(detector_version: str) -> dict[str, Any] | None:
    """The snapshot v250 would report on this Linux host, or ``None`` (detection failed)."""
    if not sys.platform.startswith("linux"):
        return None
    memory = _meminfo_bytes()
    if not memory:
        return None
    goarch = _GOARCH.get(platform.machine().lower(), platform.machine().lower())
    name, raw = _ARCH_NAME.get(goarch, ("other", goarch))
    release = _os_release()
    cpu = _cpuinfo()
    return {
        "schema_version": 1,
        "captured_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "capture": {
            "scope": "inference_host",
            "method": "detected",
            "detector": {"name": "llama-swap", "version": detector_version},
        },
        "architecture": {"name": name, "raw_name": raw},
        "operating_system": {
            "family": "linux",
            "name": release.get("ID") or None,
            "version": _os_version(release),
            "kernel": platform.release() or None,
        },
        "environment": _environment(),
        "cpu": cpu,
        "memory": {"capacity_bytes": memory},
        "accelerators": [],
    }


def _meminfo_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _os_release() -> dict[str, str]:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def _os_version(release: dict[str, str]) -> str | None:
    """Debian's point release from /etc/debian_version (``12.11``), as gopsutil reports it."""
    if release.get("ID") == "debian":
        with contextlib.suppress(OSError):
            return Path("/etc/debian_version").read_text().strip() or None
    return release.get("VERSION_ID") or None


def _cpuinfo() -> dict[str, Any]:
    vendor = model = None
    physical: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    try:
        blocks = Path("/proc/cpuinfo").read_text().split("\n\n")
    except OSError:
        blocks = []
    for block in blocks:
        fields = dict(
            (k.strip(), v.strip())
            for k, v in (ln.split(":", 1) for ln in block.splitlines() if ":" in ln)
        )
        vendor = vendor or fields.get("vendor_id") or None
        model = model or fields.get("model name") or None
        if "physical id" in fields:
            sockets.add(fields["physical id"])
            physical.add((fields["physical id"], fields.get("core id", "")))
    return {
        "vendor": vendor,
        "model": model,
        "socket_count": len(sockets) or None,
        "physical_core_count": len(physical) or None,
        "logical_thread_count": os.cpu_count(),
    }


def _environment() -> dict[str, Any]:
    kernel = platform.release().lower()
    if "microsoft" in kernel or "wsl" in kernel:
        return {"kind": "wsl", "name": "WSL", "version": None}
    if Path("/.dockerenv").exists():
        return {"kind": "container", "name": "Docker", "version": None}
    return {"kind": "unknown", "name": None, "version": None}
