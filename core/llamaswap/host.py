"""Typed views of llama-swap's host-level answers: profiles, a model's props, hardware.

Parsed leniently like :mod:`llamaswap.records`: each reads what it knows, keeps the whole
body in ``raw``, and fails only when the part it depends on is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llamaswap.errors import ResponseDecodeError


@dataclass(frozen=True)
class Profile:
    """One llama-swap profile (``profiles:`` in its config).

    Attributes:
        id: the profile's name, as :meth:`~llamaswap.LlamaSwapProvider.set_profile` takes it.
        description: its description.
        pins: requested model name to the model it is routed to while the profile is
            active (``""``: the name is disabled under this profile).
    """

    id: str
    description: str = ""
    pins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profiles:
    """``GET /api/profiles``: every profile and the active one (``None``: none active)."""

    active: str | None
    profiles: tuple[Profile, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The profile names, sorted as llama-swap sends them."""
        return tuple(p.id for p in self.profiles)

    def get(self, name: str) -> Profile | None:
        """The profile called ``name``, or ``None``."""
        return next((p for p in self.profiles if p.id == name), None)


@dataclass(frozen=True)
class ModelProps:
    """``GET /props?model=<id>``: what the model's server (llama.cpp) says of itself.

    Asking loads the model. Fields are ``None``/empty when the server does not send them.

    Attributes:
        model: the id asked for.
        context_size: the context per slot in tokens (``default_generation_settings.n_ctx``).
        total_slots: parallel slots.
        chat_template: the Jinja chat template in use.
        chat_template_caps: what the template supports (``supports_tool_calls`` ...).
        modalities: input modalities the server accepts (``vision``, ``audio``).
        build_info: the server's build (``b6123-abcdef``).
        model_path: the weights file the server loaded.
        bos_token: the beginning-of-sequence token text.
        eos_token: the end-of-sequence token text.
        raw: the whole body.
    """

    model: str
    context_size: int | None = None
    total_slots: int | None = None
    chat_template: str = field(default="", repr=False)
    chat_template_caps: Mapping[str, Any] = field(default_factory=dict)
    modalities: Mapping[str, bool] = field(default_factory=dict)
    build_info: str = ""
    model_path: str = ""
    bos_token: str = ""
    eos_token: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Accelerator:
    """One GPU (or other accelerator) in :class:`HardwareInfo`."""

    index: int
    kind: str = ""
    vendor: str | None = None
    model: str | None = None
    architecture: str | None = None
    memory_bytes: int | None = None
    driver_version: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class HardwareInfo:
    """``GET /api/hardware``: the host llama-swap detected at startup.

    Attributes:
        schema_version: the snapshot schema (1 in llama-swap v247-v250).
        captured_at: when it was taken (RFC 3339 text).
        architecture: the CPU architecture, e.g. ``x86_64``.
        os_family: ``linux``, ``darwin``, ``windows``.
        os_name: the distribution or product, when detected.
        os_version: its version, when detected.
        environment: ``bare_metal``, ``container``, ``vm`` ... as detected.
        cpu_model: the CPU model string, when detected.
        physical_cores: physical cores, when detected.
        logical_threads: hardware threads, when detected.
        memory_bytes: system memory.
        accelerators: the GPUs found (empty on a CPU-only host).
        raw: the whole snapshot.
    """

    schema_version: int
    captured_at: str = ""
    architecture: str = ""
    os_family: str = ""
    os_name: str | None = None
    os_version: str | None = None
    environment: str = ""
    cpu_model: str | None = None
    physical_cores: int | None = None
    logical_threads: int | None = None
    memory_bytes: int | None = None
    accelerators: tuple[Accelerator, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_profiles(body: Any, *, url: str = "") -> Profiles:
    """Turn a ``/api/profiles`` body into :class:`Profiles`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("profiles"), list):
        raise _bad("GET /api/profiles", "an object with a 'profiles' list", body, url)
    profiles: list[Profile] = []
    for item in body["profiles"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise _bad("GET /api/profiles", "profiles with a string 'id'", item, url)
        pins = _mapping(item.get("pins"))
        profiles.append(
            Profile(
                id=item["id"],
                description=_str(item.get("description")),
                pins={k: v if isinstance(v, str) else "" for k, v in pins.items()},
            )
        )
    return Profiles(active=parse_active(body), profiles=tuple(profiles), raw=dict(body))


def parse_active(body: Any, *, url: str = "") -> str | None:
    """The ``active`` profile of a ``/api/profiles`` or ``PUT /api/profiles/active`` body."""
    if not isinstance(body, Mapping) or "active" not in body:
        raise _bad("the profile API", "an object with 'active'", body, url)
    active = body["active"]
    return active if isinstance(active, str) and active else None


def parse_props(model: str, body: Any, *, url: str = "") -> ModelProps:
    """Turn a llama.cpp ``/props`` body into :class:`ModelProps`."""
    if not isinstance(body, Mapping):
        raise _bad("GET /props", "a JSON object", body, url)
    settings = _mapping(body.get("default_generation_settings"))
    modalities = _mapping(body.get("modalities"))
    return ModelProps(
        model=model,
        context_size=_int(settings.get("n_ctx", body.get("n_ctx"))),
        total_slots=_int(body.get("total_slots")),
        chat_template=_str(body.get("chat_template")),
        chat_template_caps=_mapping(body.get("chat_template_caps")),
        modalities={k: v for k, v in modalities.items() if isinstance(v, bool)},
        build_info=_str(body.get("build_info")),
        model_path=_str(body.get("model_path")),
        bos_token=_str(body.get("bos_token")),
        eos_token=_str(body.get("eos_token")),
        raw=dict(body),
    )


def parse_hardware(body: Any, *, url: str = "") -> HardwareInfo:
    """Turn an ``/api/hardware`` snapshot into :class:`HardwareInfo`."""
    schema = _int(body.get("schema_version")) if isinstance(body, Mapping) else None
    if not isinstance(body, Mapping) or schema is None:
        raise _bad("GET /api/hardware", "an object with a 'schema_version'", body, url)
    arch = _mapping(body.get("architecture"))
    system = _mapping(body.get("operating_system"))
    cpu = _mapping(body.get("cpu"))
    accelerators = []
    for index, item in enumerate(body.get("accelerators") or ()):
        if not isinstance(item, Mapping):
            continue
        acc_index = _int(item.get("index"))
        accelerators.append(
            Accelerator(
                index=acc_index if acc_index is not None else index,
                kind=_str(item.get("kind")),
                vendor=_opt_str(item.get("vendor")),
                model=_opt_str(item.get("model")),
                architecture=_opt_str(item.get("architecture")),
                memory_bytes=_int(_mapping(item.get("memory")).get("capacity_bytes")),
                driver_version=_opt_str(_mapping(item.get("driver")).get("version")),
                raw=dict(item),
            )
        )
    return HardwareInfo(
        schema_version=schema,
        captured_at=_str(body.get("captured_at")),
        architecture=_str(arch.get("name")),
        os_family=_str(system.get("family")),
        os_name=_opt_str(system.get("name")),
        os_version=_opt_str(system.get("version")),
        environment=_str(_mapping(body.get("environment")).get("kind")),
        cpu_model=_opt_str(cpu.get("model")),
        physical_cores=_int(cpu.get("physical_core_count")),
        logical_threads=_int(cpu.get("logical_thread_count")),
        memory_bytes=_int(_mapping(body.get("memory")).get("capacity_bytes")),
        accelerators=tuple(accelerators),
        raw=dict(body),
    )


def _bad(what: str, wanted: str, value: Any, url: str) -> ResponseDecodeError:
    shown = repr(value)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    return ResponseDecodeError(f"{what} did not return {wanted}: {shown}", url=url, body=shown)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
