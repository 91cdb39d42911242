"""Typed views of llama-swap's JSON records, parsed leniently.

llama-swap adds and drops fields between releases, so every parser here reads what it
knows, keeps the whole record in ``raw``, and only fails when the shape it depends on
(a list of records with an ``id``/``model``) is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from llamaswap.errors import ResponseDecodeError
from llamaswap.states import ModelState, state_fields


@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``GET /v1/models``, with llama-swap's extras kept.

    Attributes:
        id: the id to send as ``model`` (``peer/model`` for a peer's model).
        name: display name from the config (``""`` when unset).
        description: description from the config.
        type: ``model``, ``alias``, ``peer``, ``selector`` or ``profile`` (``meta.llamaswap.type``).
        state: :class:`ModelState`: ``LOADED`` (a process is up), ``STOPPED`` (none), or
            ``UNKNOWN`` for a peer's model (llama-swap lists those as ``unloaded`` always).
        aliases: other names that route to this model.
        context_length: context size when the config declares it, else ``None``.
        capabilities: the ``capabilities`` map when the config declares one.
        peer_id: the peer that serves this model, for peer models.
        meta: the ``meta`` object as sent.
        raw: the whole record as sent.
        raw_state: the word llama-swap sent (``loaded``, ``unloaded``, ``""`` if absent).
        architecture: the ``architecture`` map (``input_modalities``, ``output_modalities``,
            ``modality``) llama-swap v225+ renders from the config's ``capabilities``.
        supported_parameters: request parameters the model takes beyond the basics
            (``tools``, ``tool_choice`` for a model with ``capabilities.tools``).
    """

    id: str
    name: str = ""
    description: str = ""
    type: str = ""
    state: ModelState = ModelState.UNKNOWN
    aliases: tuple[str, ...] = ()
    context_length: int | None = None
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    peer_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    raw_state: str = ""
    architecture: Mapping[str, Any] = field(default_factory=dict)
    supported_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        typed, raw = state_fields(self.state, self.raw_state)
        object.__setattr__(self, "state", typed)
        object.__setattr__(self, "raw_state", raw)

    @property
    def loaded(self) -> bool:
        """Whether a process for this model is running (starting, ready or stopping)."""
        return self.state.loaded

    @property
    def input_modalities(self) -> tuple[str, ...]:
        """``text``, ``image``, ``audio`` the model takes, as its config declares."""
        return _strings(self.architecture.get("input_modalities"))

    @property
    def output_modalities(self) -> tuple[str, ...]:
        """``text``, ``image``, ``audio`` the model produces, as its config declares."""
        return _strings(self.architecture.get("output_modalities"))

    @property
    def declares_capabilities(self) -> bool:
        """Whether llama-swap rendered a ``capabilities`` config for this model (v225+).

        When it did, a capability it leaves out is one the model lacks; when it did not,
        nothing is known either way.
        """
        return bool(self.capabilities or self.architecture or self.supported_parameters)

    def has(self, capability: str) -> bool:
        """Whether ``capabilities`` declares ``capability`` (``"reranker"``, ``"vision"`` ...)."""
        return self.capabilities.get(capability) is True


@dataclass(frozen=True)
class RunningModel:
    """One entry of ``GET /running``.

    Attributes:
        model: the real model id (never an alias).
        state: :class:`ModelState`: ``STARTING``, ``READY`` or ``STOPPING``.
        ttl: the *configured* idle TTL in seconds (0 = never), not the time left.
        name: display name from the config.
        description: description from the config.
        proxy: where llama-swap forwards requests for this model.
        raw: the whole record as sent.
        raw_state: the word llama-swap sent.
    """

    model: str
    state: ModelState = ModelState.UNKNOWN
    ttl: int | None = None
    name: str = ""
    description: str = ""
    proxy: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    raw_state: str = ""

    def __post_init__(self) -> None:
        typed, raw = state_fields(self.state, self.raw_state)
        object.__setattr__(self, "state", typed)
        object.__setattr__(self, "raw_state", raw)


@dataclass(frozen=True)
class VersionInfo:
    """``GET /api/version``: the build llama-swap reports."""

    version: str
    commit: str = ""
    build_date: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_models(body: Any, *, url: str = "") -> list[ModelInfo]:
    """Turn a ``/v1/models`` body into :class:`ModelInfo` records."""
    return [
        _model_info(item, url) for item in _list_field(body, "data", url=url, what="GET /v1/models")
    ]


def _model_info(sent: Any, url: str) -> ModelInfo:
    """One listed record, built without the dataclass ``__init__``.

    A listing is parsed on every ``list_models`` and model lookup, and every field is
    already typed here, so the checks ``__init__`` would run are skipped.
    """
    item = _record(sent, "id", "GET /v1/models", url)
    get = item.get
    meta = _mapping(get("meta"))
    swap_meta = meta.get("llamaswap")
    swap: Mapping[str, Any] = swap_meta if _is_mapping(swap_meta) else {}
    status = get("status")
    word = _str(status.get("value")) if _is_mapping(status) else _str(status)
    kind = _str(swap.get("type"))
    # llama-swap lists a peer's model as unloaded whatever the peer runs: not known here.
    state = ModelState.UNKNOWN if kind == "peer" else ModelState.from_raw(word)
    aliases = swap.get("aliases", get("aliases", ()))
    context = get("context_length", meta.get("n_ctx"))
    record = object.__new__(ModelInfo)
    record.__dict__.update(
        id=item["id"],
        name=_str(get("name")),
        description=_str(get("description")),
        type=kind,
        state=state,
        aliases=_strings(aliases),
        context_length=_positive_int(context),
        capabilities=_mapping(get("capabilities")),
        peer_id=_str(swap.get("peerID")) or None,
        meta=meta,
        raw=item,
        raw_state=word,
        architecture=_mapping(get("architecture")),
        supported_parameters=_strings(get("supported_parameters")),
    )
    return record


def _record(sent: Any, key: str, where: str, url: str) -> dict[str, Any]:
    """A copy of one listed record, which must be an object with a string ``key``."""
    item = dict(sent) if _is_mapping(sent) else None
    if item is None or not isinstance(item.get(key), str):
        raise ResponseDecodeError(
            f"{where} returned a record without a string {key!r}: {_short(sent)}",
            url=url,
            body=_short(sent),
        )
    return item


def parse_running(body: Any, *, url: str = "") -> list[RunningModel]:
    """Turn a ``/running`` body into :class:`RunningModel` records."""
    items = _list_field(body, "running", url=url, what="GET /running")
    return [_running_model(item, url) for item in items]


def _running_model(sent: Any, url: str) -> RunningModel:
    """One running record, built without the dataclass ``__init__`` (see :func:`_model_info`).

    ``running()`` is polled (waiting on a load, dashboards), and every field is typed
    here, so ``__post_init__``'s state normalisation has nothing left to do.
    """
    item = _record(sent, "model", "GET /running", url)
    get = item.get
    word = _str(get("state"))
    ttl = get("ttl")
    record = object.__new__(RunningModel)
    record.__dict__.update(
        model=item["model"],
        state=ModelState.from_raw(word),
        ttl=ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None,
        name=_str(get("name")),
        description=_str(get("description")),
        proxy=_str(get("proxy")),
        raw=item,
        raw_state=word,
    )
    return record


def parse_version(body: Any, *, url: str = "") -> VersionInfo:
    """Turn an ``/api/version`` body into a :class:`VersionInfo`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("version"), str):
        raise ResponseDecodeError(
            f"GET /api/version did not return an object with a 'version' string: {_short(body)}",
            url=url,
            body=_short(body),
        )
    return VersionInfo(
        version=body["version"],
        commit=_str(body.get("commit")),
        build_date=_str(body.get("build_date")),
        raw=dict(body),
    )


def _list_field(body: Any, key: str, *, url: str, what: str) -> list[Any]:
    if not _is_mapping(body) or not isinstance(body.get(key), list):
        raise ResponseDecodeError(
            f"{what} did not return an object with a '{key}' list: {_short(body)}",
            url=url,
            body=_short(body),
        )
    items: list[Any] = body[key]  # only read, never kept: no copy
    return items


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, answering JSON's plain dicts without the ABC check."""
    return type(value) is dict or isinstance(value, Mapping)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if _is_mapping(value) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
