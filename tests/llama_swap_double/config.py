"""Config loading for the llama-swap test double.

Reads the same YAML as llama-swap v250 (macros, ``${PORT}`` allocation, groups,
peers) so one config file drives either the real binary or this double.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .perf import parse_every

DEFAULT_PROXY = "http://localhost:${PORT}"
DEFAULT_IGNORE_PATHS = [r".*\.(js|json|css|png|gif|jpg|jpeg|ico|txt)$"]
DEFAULT_GROUP = "(default)"
RESERVED_MACROS = {"PID", "PORT", "MODEL_ID"}
_MACRO_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_ENV_MACRO = re.compile(r"\$\{env\.([a-zA-Z_][a-zA-Z0-9_]*)\}")
_ANY_MACRO = re.compile(r"\$\{([a-zA-Z0-9_.-]+)\}")


class ConfigError(ValueError):
    """Raised for a config the real binary would also refuse to load."""


@dataclass
class Capabilities:
    """``capabilities:`` block; drives the extra /v1/models fields."""

    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    tools: bool = False
    reranker: bool = False
    context: int = 0


@dataclass
class ModelConfig:
    """One ``models.<id>`` entry after macro expansion and defaulting."""

    id: str
    cmd: str
    proxy: str
    cmd_stop: str = ""
    check_endpoint: str = "/health"
    ttl: int = 0
    unload_timeout: int = 10
    health_check_timeout: int = 120
    aliases: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    unlisted: bool = False
    use_model_name: str = ""
    name: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int = 10
    strip_params: list[str] = field(default_factory=list)
    set_params: dict[str, Any] = field(default_factory=dict)
    set_params_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    send_loading_state: bool = False
    capabilities: Capabilities | None = None

    def argv(self) -> list[str]:
        """Split ``cmd`` like llama-swap: drop ``#`` lines, join ``\\`` lines, POSIX shlex."""
        lines: list[str] = []
        for line in self.cmd.split("\n"):
            trimmed = line.strip()
            if trimmed.startswith("#"):
                continue
            lines.append(trimmed[:-1] + " " if trimmed.endswith("\\") else line)
        args = shlex.split("\n".join(lines), posix=True)
        if not args:
            raise ConfigError("empty command")
        return args


@dataclass
class GroupConfig:
    """A swap group; defaults match llama-swap (swap and exclusive on)."""

    id: str
    swap: bool = True
    exclusive: bool = True
    persistent: bool = False
    members: list[str] = field(default_factory=list)


@dataclass
class PeerConfig:
    """A remote llama-swap (or OpenAI-compatible server) listed under ``peers``."""

    id: str
    proxy: str
    api_key: str = ""
    models: list[str] = field(default_factory=list)


@dataclass
class ProfileConfig:
    """One ``profiles:`` entry: requested names pinned to models (``""`` disables one)."""

    description: str = ""
    pins: dict[str, str] = field(default_factory=dict)


@dataclass
class Config:
    """The whole loaded config."""

    health_check_timeout: int = 120
    log_level: str = "info"
    log_to_stdout: str = "proxy"
    start_port: int = 5800
    global_ttl: int = 0
    unload_timeout: int = 10
    api_keys: list[str] = field(default_factory=list)
    send_loading_state: bool = False
    include_aliases_in_list: bool = False
    models: dict[str, ModelConfig] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    peers: dict[str, PeerConfig] = field(default_factory=dict)
    ignore_paths: list[re.Pattern[str]] = field(default_factory=list)
    ui: dict[str, Any] = field(default_factory=dict)
    preload: list[str] = field(default_factory=list)
    double_error_envelope: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    model_group: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, ProfileConfig] = field(default_factory=dict)
    performance_disabled: bool = False
    performance_every: float = 5.0

    def real_model_name(self, name: str) -> str | None:
        """Map a local model ID or alias to the real ID (None if not local)."""
        if name in self.models:
            return name
        return self.aliases.get(name)

    def resolve_peer_model(self, name: str) -> tuple[str, str] | None:
        """``peer/model`` always; a bare name only when exactly one peer lists it."""
        matches: list[tuple[str, str]] = []
        for pid, peer in self.peers.items():
            for model in peer.models:
                if f"{pid}/{model}" == name:
                    return pid, model
                if model == name:
                    matches.append((pid, model))
        if len(matches) == 1 and self.real_model_name(name) is None:
            return matches[0]
        return None

    def model_in_path(self, path: str) -> tuple[str, str, str] | None:
        """Longest ``/``-segment prefix of ``path`` naming a local model, alias or peer model.

        Returns (search name, resolved name, remaining path) like llama-swap's FindModelInPath.
        """
        parts = path.strip().split("/")
        name = ""
        best: tuple[str, str, str] | None = None
        for i, part in enumerate(parts):
            if not part:
                continue
            name = part if not name else f"{name}/{part}"
            real = self.real_model_name(name)
            if real is None and self.resolve_peer_model(name) is not None:
                real = name
            if real is not None:
                best = (name, real, "/" + "/".join(parts[i + 1 :]))
        return best


def _env_substitute(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"environment variable '{name}' is not set")
        if "\n" in value or "\0" in value:
            raise ConfigError(
                f"environment variable '{name}' contains newlines or null bytes which are "
                "not allowed in YAML substitution"
            )
        return value

    return _ENV_MACRO.sub(repl, text)


def _macro_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute(value: Any, name: str, replacement: Any) -> Any:
    token = "${" + name + "}"
    if isinstance(value, str):
        if value == token and not isinstance(replacement, str):
            return replacement
        return value.replace(token, _macro_text(replacement))
    if isinstance(value, dict):
        return {k: _substitute(v, name, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, name, replacement) for v in value]
    return value


def _macro_list(raw: Any, where: str) -> list[tuple[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}macros must be a map")
    out: list[tuple[str, Any]] = []
    for name, value in raw.items():
        name = str(name)
        if len(name) > 63:
            raise ConfigError(f"{where}macro name '{name}' exceeds maximum length of 63 characters")
        if not _MACRO_NAME.match(name):
            raise ConfigError(
                f"{where}macro name '{name}' contains invalid characters, "
                "must match pattern ^[a-zA-Z0-9_-]+$"
            )
        if name in RESERVED_MACROS:
            raise ConfigError(f"{where}macro name '{name}' is reserved")
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{where}macro '{name}' has invalid type, must be a scalar type")
        if isinstance(value, str) and "${" + name + "}" in value:
            raise ConfigError(f"{where}macro '{name}' contains self-reference")
        out.append((name, value))
    return out


def _strip_comments(cmd: str) -> str:
    return "\n".join(line for line in cmd.split("\n") if not line.strip().startswith("#"))


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def _check_leftover_macros(model_id: str, fields: dict[str, str]) -> None:
    for field_name, text in fields.items():
        for match in _ANY_MACRO.finditer(text):
            macro = match.group(1)
            if field_name == "cmdStop" and macro == "PID":
                continue
            raise ConfigError(f"unknown macro '${{{macro}}}' found in {model_id}.{field_name}")


def _parse_capabilities(raw: Any) -> Capabilities | None:
    if not isinstance(raw, dict) or not raw:
        return None
    return Capabilities(
        inputs=_str_list(raw.get("in")),
        outputs=_str_list(raw.get("out")),
        tools=bool(raw.get("tools", False)),
        reranker=bool(raw.get("reranker", False)),
        context=int(raw.get("context") or 0),
    )


def _parse_model(
    model_id: str, raw: dict[str, Any], top: dict[str, Any], cfg: Config
) -> ModelConfig:
    cmd = raw.get("cmd")
    if not isinstance(cmd, str) or not cmd.strip():
        raise ConfigError(f"model {model_id}: cmd is required")
    filters = raw.get("filters") or {}
    strip_raw = filters.get("stripParams") or ""
    strip = [p.strip() for p in str(strip_raw).split(",") if p.strip() and p.strip() != "model"]
    ttl = _int(raw.get("ttl"), -1)
    if ttl == -1:
        ttl = cfg.global_ttl
    if ttl < 0:
        raise ConfigError(f"model {model_id}: invalid TTL value {ttl}")
    unload_timeout = _int(raw.get("unloadTimeout"), 0)
    if unload_timeout < 0:
        raise ConfigError(f"model {model_id}: invalid unloadTimeout value {unload_timeout}")
    loading = raw.get("sendLoadingState")
    limit = _int(raw.get("concurrencyLimit"), 0)
    metadata = raw.get("metadata") or {}
    return ModelConfig(
        id=model_id,
        cmd=cmd,
        proxy=str(raw.get("proxy") or DEFAULT_PROXY),
        cmd_stop=str(raw.get("cmdStop") or ""),
        check_endpoint=str(raw.get("checkEndpoint") or "/health"),
        ttl=ttl,
        unload_timeout=unload_timeout or cfg.unload_timeout,
        health_check_timeout=cfg.health_check_timeout,
        aliases=_str_list(raw.get("aliases")),
        env=_str_list(raw.get("env")),
        unlisted=bool(raw.get("unlisted", False)),
        use_model_name=str(raw.get("useModelName") or ""),
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        concurrency_limit=limit if limit > 0 else 10,
        strip_params=strip,
        set_params=dict(filters.get("setParams") or {}),
        set_params_by_id={
            str(k): dict(v or {}) for k, v in (filters.get("setParamsByID") or {}).items()
        },
        send_loading_state=cfg.send_loading_state if loading is None else bool(loading),
        capabilities=_parse_capabilities(raw.get("capabilities")),
    )


def _parse_groups(raw: dict[str, Any], cfg: Config) -> None:
    routing = raw.get("routing") or {}
    router = routing.get("router") or {}
    settings = router.get("settings") or {}
    top_groups = raw.get("groups") or {}
    if (top_groups or raw.get("matrix")) and (router.get("use") or settings):
        raise ConfigError(
            "config uses both the legacy top-level 'matrix'/'groups' keys and the new "
            "'routing.router' block; please migrate the top-level keys into 'routing.router' "
            "and remove them"
        )
    if raw.get("matrix") or router.get("use") == "matrix":
        raise ConfigError("double: the matrix router is not implemented by the test double")
    groups_raw: dict[str, Any] = top_groups or settings.get("groups") or {}
    for gid, g in groups_raw.items():
        g = g or {}
        group = GroupConfig(
            id=str(gid),
            swap=bool(g.get("swap", True)),
            exclusive=bool(g.get("exclusive", True)),
            persistent=bool(g.get("persistent", False)),
            members=_str_list(g.get("members")),
        )
        seen: set[str] = set()
        for member in group.members:
            if member in seen:
                raise ConfigError(f"duplicate model member {member} found in group: {gid}")
            seen.add(member)
            if member in cfg.model_group:
                raise ConfigError(
                    f"model member {member} is used in multiple groups: "
                    f"{cfg.model_group[member]} and {gid}"
                )
            if member not in cfg.models:
                raise ConfigError(f"group {gid}: unknown model {member}")
            cfg.model_group[member] = str(gid)
        cfg.groups[str(gid)] = group
    ungrouped = sorted(m for m in cfg.models if m not in cfg.model_group)
    if ungrouped:
        default = cfg.groups.setdefault(DEFAULT_GROUP, GroupConfig(id=DEFAULT_GROUP))
        for m in ungrouped:
            default.members.append(m)
            cfg.model_group[m] = DEFAULT_GROUP


def load_config_text(text: str) -> Config:
    """Parse config YAML text with llama-swap's macro and default rules."""
    text = _env_substitute(text)
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ConfigError("config must be a YAML map")
    global_macros = _macro_list(raw.pop("macros", None), "")
    models_raw: dict[str, Any] = raw.get("models") or {}
    for key, value in list(raw.items()):
        if key != "models":
            for name, mval in reversed(global_macros):
                value = _substitute(value, name, mval)
            raw[key] = value

    cfg = Config()
    cfg.health_check_timeout = max(15, _int(raw.get("healthCheckTimeout"), 120))
    cfg.log_level = str(raw.get("logLevel") or "info")
    cfg.log_to_stdout = str(raw.get("logToStdout") or "proxy")
    if cfg.log_to_stdout not in {"proxy", "upstream", "both", "none"}:
        raise ConfigError("logToStdout must be one of: proxy, upstream, both, none")
    cfg.start_port = _int(raw.get("startPort"), 5800)
    if cfg.start_port < 1:
        raise ConfigError("startPort must be greater than 1")
    cfg.global_ttl = _int(raw.get("globalTTL"), 0)
    if cfg.global_ttl < 0:
        raise ConfigError("globalTTL must be >= 0")
    cfg.unload_timeout = _int(raw.get("unloadTimeout"), 0) or 10
    cfg.api_keys = _str_list(raw.get("apiKeys"))
    for i, key in enumerate(cfg.api_keys):
        if not key:
            raise ConfigError("empty api key found in apiKeys")
        if " " in key:
            raise ConfigError(f"apiKeys[{i}]: api key cannot contain spaces")
    cfg.send_loading_state = bool(raw.get("sendLoadingState", False))
    cfg.include_aliases_in_list = bool(raw.get("includeAliasesInList", False))
    cfg.double_error_envelope = bool(raw.get("doubleErrorEnvelope", False))
    ui = raw.get("ui") or {}
    session_ids = ((ui.get("activity") or {}).get("session_id")) or [
        "X-Session-ID",
        "X-Litellm-Session-Id",
    ]
    cfg.ui = {"activity": {"session_id": _str_list(session_ids)}}
    upstream = raw.get("upstream") or {}
    patterns = upstream.get("ignorePaths")
    cfg.ignore_paths = [
        re.compile(p) for p in (DEFAULT_IGNORE_PATHS if patterns is None else _str_list(patterns))
    ]
    hooks = (raw.get("hooks") or {}).get("on_startup") or {}
    cfg.preload = _str_list(hooks.get("preload"))

    next_port = cfg.start_port
    for model_id in sorted(models_raw):
        model = models_raw[model_id]
        if not isinstance(model, dict):
            raise ConfigError(f"model {model_id}: must be a map")
        model = dict(model)
        local_macros = _macro_list(model.pop("macros", None), f"model {model_id}: ")
        for f in ("cmd", "cmdStop"):
            if isinstance(model.get(f), str):
                model[f] = _strip_comments(model[f])
        if model.get("proxy") is None:
            model["proxy"] = DEFAULT_PROXY
        merged: list[tuple[str, Any]] = [("MODEL_ID", model_id), *global_macros]
        for name, mval in local_macros:
            idx = next((i for i, (n, _) in enumerate(merged) if n == name), None)
            if idx is None:
                merged.append((name, mval))
            else:
                merged[idx] = (name, mval)
        resolved: Any = model
        for name, mval in reversed(merged):
            resolved = _substitute(resolved, name, mval)
        model = resolved
        cmd_has_port = "${PORT}" in str(model.get("cmd", ""))
        proxy_has_port = "${PORT}" in str(model.get("proxy", ""))
        if proxy_has_port and not cmd_has_port:
            raise ConfigError(
                f"model {model_id}: proxy uses ${{PORT}} but cmd does not - ${{PORT}} is only "
                "available when used in cmd"
            )
        if cmd_has_port:
            model = _substitute(model, "PORT", next_port)
            next_port += 1
        _check_leftover_macros(
            model_id,
            {f: str(model.get(f) or "") for f in ("cmd", "cmdStop", "proxy", "checkEndpoint")},
        )
        cfg.models[model_id] = _parse_model(model_id, model, raw, cfg)

    for model_id, mc in cfg.models.items():
        for alias in mc.aliases:
            if alias in cfg.aliases:
                raise ConfigError(f"duplicate alias {alias} found in model: {model_id}")
            cfg.aliases[alias] = model_id
    for model_id in sorted(cfg.models):
        mc = cfg.models[model_id]
        for key in mc.set_params_by_id:
            if key == model_id:
                continue
            if key in cfg.models:
                raise ConfigError(
                    f"model {model_id} filters.setParamsByID: key '{key}' conflicts with an "
                    "existing model ID"
                )
            owner = cfg.aliases.get(key)
            if owner is not None and owner != model_id:
                raise ConfigError(
                    f"duplicate alias '{key}' in model {model_id} filters.setParamsByID, "
                    f"already used by model {owner}"
                )
            if owner is None:
                cfg.aliases[key] = model_id
                mc.aliases.append(key)

    _parse_groups(raw, cfg)
    for pid, peer in (raw.get("peers") or {}).items():
        peer = peer or {}
        if not peer.get("proxy"):
            raise ConfigError(f"peers.{pid}: proxy is required")
        cfg.peers[str(pid)] = PeerConfig(
            id=str(pid),
            proxy=str(peer["proxy"]).rstrip("/"),
            api_key=str(peer.get("apiKey") or ""),
            models=_str_list(peer.get("models")),
        )
    _parse_profiles(raw, cfg)
    perf = raw.get("performance") or {}
    cfg.performance_disabled = bool(perf.get("disabled", False))
    cfg.performance_every = parse_every(perf.get("every"))
    if cfg.performance_every < 5:
        raise ConfigError(f"every must be at least 5s, got {perf.get('every')}")
    return cfg


def _parse_profiles(raw: dict[str, Any], cfg: Config) -> None:
    """``profiles:`` as v250 loads and validates them (config/load.go validateProfiles)."""
    for name, spec in (raw.get("profiles") or {}).items():
        if not isinstance(spec, dict):
            raise ConfigError(
                "profile must be a mapping with description and pins; the legacy list syntax "
                "is no longer supported"
            )
        if not str(name).strip():
            raise ConfigError("profiles: profile names cannot be empty")
        pins = {str(k): "" if v is None else str(v) for k, v in (spec.get("pins") or {}).items()}
        if not pins:
            raise ConfigError(f"profiles.{name}.pins must contain at least one entry")
        for pin, target in pins.items():
            if not pin.strip():
                raise ConfigError(f"profiles.{name}.pins: pin names cannot be empty")
            if (
                target
                and cfg.real_model_name(target) is None
                and not cfg.resolve_peer_model(target)
            ):
                raise ConfigError(f'profiles.{name}.pins.{pin} references unknown model "{target}"')
        cfg.profiles[str(name)] = ProfileConfig(
            description=str(spec.get("description") or ""), pins=pins
        )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load a config file (see :func:`load_config_text`)."""
    return load_config_text(Path(path).read_text(encoding="utf-8"))
